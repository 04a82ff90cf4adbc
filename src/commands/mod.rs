//! One module per subcommand.

pub mod check;
pub mod debugger;
pub mod run;

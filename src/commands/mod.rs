//! One module per subcommand.

pub mod cache;
pub mod check;
pub mod debugger;
pub mod run;

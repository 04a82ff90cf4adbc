// A loop of known length for bench/gdbstub.sh: what an armed watchpoint
// costs per statement the guest executes.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    volatile long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += i;
    }
    printf("%ld\n", sum);
    return 0;
}

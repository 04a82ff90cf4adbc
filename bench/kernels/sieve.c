// Sieve of Eratosthenes up to 20 million, repeated; prints the prime count.
#include <stdio.h>
#include <string.h>

#define LIMIT 20000000
static unsigned char composite[LIMIT + 1];

int main(void) {
    int count = 0;
    for (int round = 0; round < 8; round++) {
        memset(composite, 0, sizeof composite);
        count = 0;
        for (int i = 2; i <= LIMIT; i++) {
            if (composite[i]) continue;
            count++;
            for (long long j = (long long)i * i; j <= LIMIT; j += i) composite[j] = 1;
        }
    }
    printf("%d primes below %d\n", count, LIMIT);
    return 0;
}

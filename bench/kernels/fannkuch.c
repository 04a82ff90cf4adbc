// Fannkuch-redux: maximum pancake flips over all permutations of 1..N.
#include <stdio.h>

#define N 11

int main(void) {
    int perm[N], perm1[N], count[N];
    int max_flips = 0, checksum = 0, r = N, permutations = 0;
    for (int i = 0; i < N; i++) perm1[i] = i;
    for (;;) {
        for (; r != 1; r--) count[r - 1] = r;
        for (int i = 0; i < N; i++) perm[i] = perm1[i];
        int flips = 0, k;
        while ((k = perm[0]) != 0) {
            for (int i = 0, j = k; i < j; i++, j--) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
            flips++;
        }
        if (flips > max_flips) max_flips = flips;
        checksum += (permutations % 2 == 0) ? flips : -flips;
        for (;;) {
            if (r == N) { printf("%d\nPfannkuchen(%d) = %d\n", checksum, N, max_flips); return 0; }
            int first = perm1[0];
            for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
            perm1[r] = first;
            if (--count[r] > 0) break;
            r++;
        }
        permutations++;
    }
}

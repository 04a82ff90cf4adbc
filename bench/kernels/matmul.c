// Dense double-precision matrix multiply (i-k-j order); prints a checksum.
#include <stdio.h>

#define DIM 384
static double a[DIM][DIM], b[DIM][DIM], c[DIM][DIM];

int main(void) {
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
            a[i][j] = (double)((i * 7 + j * 3) % 17) / 17.0;
            b[i][j] = (double)((i * 5 + j * 11) % 13) / 13.0;
        }
    for (int rep = 0; rep < 24; rep++) {
        for (int i = 0; i < DIM; i++)
            for (int j = 0; j < DIM; j++) c[i][j] = 0;
        for (int i = 0; i < DIM; i++)
            for (int k = 0; k < DIM; k++) {
                double aik = a[i][k];
                for (int j = 0; j < DIM; j++) c[i][j] += aik * b[k][j];
            }
    }
    double sum = 0;
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) sum += c[i][j] * (double)((i + j) % 7);
    printf("%.6f\n", sum);
    return 0;
}

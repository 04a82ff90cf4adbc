// N-body simulation of five bodies; prints the energy before and after.
#include <math.h>
#include <stdio.h>

#define N 5
static double px[N], py[N], pz[N], vx[N], vy[N], vz[N], mass[N];

static void init(void) {
    const double pi = 3.141592653589793, solar = 4 * pi * pi, days = 365.24;
    double data[N][7] = {
        {0, 0, 0, 0, 0, 0, 1},
        {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
         1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05, 9.54791938424326609e-04},
        {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
         -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05, 2.85885980666130812e-04},
        {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
         2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05, 4.36624404335156298e-05},
        {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
         2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05, 5.15138902046611451e-05},
    };
    for (int i = 0; i < N; i++) {
        px[i] = data[i][0]; py[i] = data[i][1]; pz[i] = data[i][2];
        vx[i] = data[i][3] * days; vy[i] = data[i][4] * days; vz[i] = data[i][5] * days;
        mass[i] = data[i][6] * solar;
    }
    double sx = 0, sy = 0, sz = 0;
    for (int i = 0; i < N; i++) { sx += vx[i] * mass[i]; sy += vy[i] * mass[i]; sz += vz[i] * mass[i]; }
    vx[0] = -sx / solar; vy[0] = -sy / solar; vz[0] = -sz / solar;
}

static double energy(void) {
    double e = 0;
    for (int i = 0; i < N; i++) {
        e += 0.5 * mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
        for (int j = i + 1; j < N; j++) {
            double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
            e -= mass[i] * mass[j] / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void advance(double dt) {
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * sqrt(d2));
            vx[i] -= dx * mass[j] * mag; vy[i] -= dy * mass[j] * mag; vz[i] -= dz * mass[j] * mag;
            vx[j] += dx * mass[i] * mag; vy[j] += dy * mass[i] * mag; vz[j] += dz * mass[i] * mag;
        }
    }
    for (int i = 0; i < N; i++) { px[i] += dt * vx[i]; py[i] += dt * vy[i]; pz[i] += dt * vz[i]; }
}

int main(void) {
    init();
    printf("%.9f\n", energy());
    for (int i = 0; i < 20000000; i++) advance(0.01);
    printf("%.9f\n", energy());
    return 0;
}

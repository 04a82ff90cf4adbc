// Built without -g and with debug sections stripped: the debugger shows
// the module's text listing instead of this source.
__attribute__((noinline)) int triangle(int n) {
    int total = 0;
    for (int i = 1; i <= n; i++) total += i;
    return total;
}

int main(void) { return triangle(4) == 10 ? 0 : 1; }

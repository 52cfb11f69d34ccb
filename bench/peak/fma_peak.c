/*
 * The machine's floating-point peak as bench/run.ts reports shares of it: every thread runs independent
 * chains of fused multiply-adds on the widest vectors the compiler targets (-march=native), long enough
 * to time; prints GFLOP/s for 1 thread and for N threads (argv[1], default: online CPUs).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vec;
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
#define REDUCE(v) _mm512_reduce_add_ps(v)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vec;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
static float REDUCE(__m256 v) { float t[8]; _mm256_storeu_ps(t, v); return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7]; }
#else
#error "needs AVX2+FMA or AVX-512"
#endif

#define CHAINS 12
static const long ITERS = 150000000;
static volatile float sink;

static void *work(void *arg) {
  (void)arg;
  vec acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = SET1(0.001f * (float)(i + 1));
  const vec a = SET1(0.9999f), b = SET1(0.0001f);
  for (long it = 0; it < ITERS; it++)
    for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], a, b);
  float s = 0;
  for (int i = 0; i < CHAINS; i++) s += REDUCE(acc[i]);
  sink = s;
  return NULL;
}

static double run(int threads) {
  pthread_t t[256];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  return (double)threads * ITERS * CHAINS * LANES * 2 / s / 1e9;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1 || n > 256) n = 1;
  double one = run(1), all = run(n);
  printf("{\"lanes\": %d, \"threads\": %d, \"gflops1\": %.1f, \"gflops\": %.1f}\n", LANES, n, one, all);
  return 0;
}

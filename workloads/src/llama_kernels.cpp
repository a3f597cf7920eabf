// SPDX-License-Identifier: Apache-2.0
#include "llama_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The V8 helpers are always inlined: no vector crosses a call, whatever the ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

// The kernels are built twice on x86-64, for AVX2 and for the baseline, and
// the loader picks one per process. Both perform the same IEEE operations in
// the same order (the build keeps contraction into FMA off), so they agree
// to the bit.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LL_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define LL_KERNEL
#endif
#define LL_INLINE inline __attribute__((always_inline))

namespace lightloop::workloads::internal {
namespace {

using V8 = float __attribute__((vector_size(32)));

LL_INLINE V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The last n % 8 values, zero-padded: lane l takes element (n / 8) * 8 + l.
LL_INLINE V8 LoadTail(const float* p, int64_t count) {
  V8 v = {};
  std::memcpy(&v, p, static_cast<size_t>(count) * sizeof(float));
  return v;
}

LL_INLINE float Combine(V8 a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// R rows of w against T tokens of x: out[r * T + t], each in Dot's order.
template <int R, int T>
LL_INLINE void Tile(const float* w, const float* x, int64_t in, float* out) {
  V8 acc[R][T] = {};
  int64_t i = 0;
  for (; i + 8 <= in; i += 8) {
    V8 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = Load8(x + t * in + i);
    for (int r = 0; r < R; ++r) {
      const V8 wv = Load8(w + r * in + i);
      for (int t = 0; t < T; ++t) acc[r][t] += wv * xv[t];
    }
  }
  if (i < in) {
    for (int r = 0; r < R; ++r) {
      const V8 wv = LoadTail(w + r * in + i, in - i);
      for (int t = 0; t < T; ++t) acc[r][t] += wv * LoadTail(x + t * in + i, in - i);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) out[r * T + t] = Combine(acc[r][t]);
  }
}

// Rows [r, r + R) against every token, two tokens at a time.
template <int R>
LL_INLINE void RowBlock(const float* w, const float* x, float* y, int64_t in, int64_t out, int64_t tokens,
                        int64_t r) {
  float o[R * 2];
  int64_t t = 0;
  for (; t + 2 <= tokens; t += 2) {
    Tile<R, 2>(w + r * in, x + t * in, in, o);
    for (int k = 0; k < R; ++k) {
      y[t * out + r + k] = o[k * 2];
      y[(t + 1) * out + r + k] = o[k * 2 + 1];
    }
  }
  if (t < tokens) {
    Tile<R, 1>(w + r * in, x + t * in, in, o);
    for (int k = 0; k < R; ++k) y[t * out + r + k] = o[k];
  }
}

LL_KERNEL void MatmulRows(const float* w, const float* x, float* y, int64_t in, int64_t out, int64_t tokens,
                          int64_t row_begin, int64_t row_end) {
  int64_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) RowBlock<4>(w, x, y, in, out, tokens, r);
  for (; r < row_end; ++r) RowBlock<1>(w, x, y, in, out, tokens, r);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::RunPieces() {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= n_) return;
    (*fn_)(begin, std::min(begin + grain_, n_));
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    RunPieces();
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) done_cv_.notify_one();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || n <= grain) {
    for (int64_t b = 0; b < n; b += grain) fn(b, std::min(b + grain, n));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    active_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  start_cv_.notify_all();
  RunPieces();
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return active_ == 0; });
}

LL_KERNEL float Dot(const float* a, const float* b, int64_t n) {
  float out;
  Tile<1, 1>(a, b, n, &out);
  return out;
}

void Matmul(ThreadPool& pool, const float* w, const float* x, float* y, int64_t in, int64_t out,
            int64_t tokens) {
  // Pieces of whole 4-row blocks, about eight per thread.
  const int64_t per_piece = std::max<int64_t>(4, (out / (8 * pool.threads()) + 3) / 4 * 4);
  pool.ParallelFor(out, per_piece,
                   [&](int64_t begin, int64_t end) { MatmulRows(w, x, y, in, out, tokens, begin, end); });
}

void RmsNorm(const float* x, const float* weight, float eps, int64_t n, float* out) {
  const float inv = 1.0f / std::sqrt(Dot(x, x, n) / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void Rope(float* v, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float a = v[i], b = v[i + half];
    v[i] = a * cos[i] - b * sin[i];
    v[i + half] = b * cos[i] + a * sin[i];
  }
}

void RopeAngles(int64_t position, int64_t d, double theta, float* cos, float* sin) {
  for (int64_t i = 0; i < d / 2; ++i) {
    const double angle = static_cast<double>(position) * std::pow(theta, -2.0 * static_cast<double>(i) / d);
    cos[i] = static_cast<float>(std::cos(angle));
    sin[i] = static_cast<float>(std::sin(angle));
  }
}

}  // namespace lightloop::workloads::internal

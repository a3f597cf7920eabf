// SPDX-License-Identifier: Apache-2.0
// Tokens per second of the functional mode's default random model (4
// layers, hidden 256, GQA 8/2, vocab 4096: 4.8 M parameters, 19 MB of
// float32), for prefill and decode, beside same-run baselines: a memcpy and
// a read of the weights' bytes (what one decode step must at least stream)
// and a bare dot-product loop over data in L1 (one core's arithmetic peak).
//
//   workloads_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // V8 is passed only inside this file
#endif

#include <cstring>
#include <filesystem>
#include <vector>

#include "lightloop/workloads/llama.h"

namespace lightloop::workloads {
namespace {

constexpr int64_t kBlockTokens = 16;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LL_BENCH_TARGET __attribute__((target("avx2")))
#else
#define LL_BENCH_TARGET
#endif
using V8 = float __attribute__((vector_size(32)));

// `reps` passes of a 1024-float dot product, four vector accumulators per
// 32 floats.
LL_BENCH_TARGET float DotPeak(const float* a, const float* b, int reps) {
  V8 acc[4] = {};
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < 1024; i += 32) {
      for (int l = 0; l < 4; ++l) {
        V8 x, y;
        std::memcpy(&x, a + i + 8 * l, sizeof x);
        std::memcpy(&y, b + i + 8 * l, sizeof y);
        acc[l] += x * y;
      }
    }
  }
  const V8 s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

LL_BENCH_TARGET float SumLanes(const float* p, size_t n) {
  V8 acc[4] = {};
  for (size_t i = 0; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      V8 x;
      std::memcpy(&x, p + i + 8 * l, sizeof x);
      acc[l] += x;
    }
  }
  const V8 s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

LlamaModel& Model() {
  static std::unique_ptr<LlamaModel> model = [] {
    const std::string dir = (std::filesystem::temp_directory_path() / "ll-llama-bench").string();
    if (!WriteRandomModel(dir).ok()) std::abort();
    auto m = LlamaModel::Load(dir, {.block_tokens = kBlockTokens});
    if (!m.ok()) std::abort();
    return std::move(m).value();
  }();
  return *model;
}

struct Sequence {
  std::vector<unsigned char> storage;
  KvView kv;
  Sequence(const LlamaModel& m, int64_t tokens) {
    const int64_t blocks = (tokens + kBlockTokens - 1) / kBlockTokens;
    storage.resize(static_cast<size_t>(blocks) * m.KvBlockBytes());
    for (int64_t b = 0; b < blocks; ++b) kv.blocks.push_back(storage.data() + b * m.KvBlockBytes());
  }
};

std::vector<int32_t> Prompt(int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 7919 + 13) % 4096);
  return t;
}

// args: prompt tokens, threads.
void BM_Prefill(benchmark::State& state) {
  LlamaModel& m = Model();
  m.SetThreads(static_cast<int>(state.range(1)));
  const std::vector<int32_t> prompt = Prompt(state.range(0));
  Sequence seq(m, state.range(0));
  for (auto _ : state) {
    SeqChunk c{.tokens = prompt, .start_pos = 0, .kv = seq.kv};
    benchmark::DoNotOptimize(m.Forward({&c, 1}));
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Prefill)
    ->Args({128, 1})
    ->Args({128, 2})
    ->Args({512, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One decode step for `batch` sequences at context 128. args: batch, threads.
void BM_Decode(benchmark::State& state) {
  LlamaModel& m = Model();
  m.SetThreads(static_cast<int>(state.range(1)));
  const int64_t batch = state.range(0), context = 128;
  const std::vector<int32_t> prompt = Prompt(context + 1);
  std::vector<Sequence> seqs;
  for (int64_t s = 0; s < batch; ++s) {
    seqs.emplace_back(m, context + 1);
    SeqChunk c{.tokens = std::span(prompt).first(context), .start_pos = 0, .kv = seqs.back().kv};
    if (!m.Forward({&c, 1}).ok()) std::abort();
  }
  std::vector<SeqChunk> step;
  for (Sequence& s : seqs)
    step.push_back({.tokens = std::span(prompt).last(1), .start_pos = context, .kv = s.kv});
  for (auto _ : state) benchmark::DoNotOptimize(m.Forward(step));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Decode)
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({8, 2})
    ->Args({32, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Baseline: copying the weights' float32 bytes once.
void BM_WeightsMemcpy(benchmark::State& state) {
  const size_t bytes = Model().config().shape.parameters() * sizeof(float);
  std::vector<char> src(bytes, 1), dst(bytes);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * bytes) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WeightsMemcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: reading the weights' float32 bytes once (a decode step's floor).
void BM_WeightsRead(benchmark::State& state) {
  const size_t n = Model().config().shape.parameters();
  std::vector<float> src(n, 1.0f);
  for (auto _ : state) benchmark::DoNotOptimize(SumLanes(src.data(), n));
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * n * sizeof(float)) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WeightsRead)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: one core's multiply-add rate on a 1024-float dot product in L1,
// with the instruction set of the model's kernels (AVX2 without FMA on x86).
void BM_DotPeak(benchmark::State& state) {
  std::vector<float> a(1024, 1.0001f), b(1024, 0.9999f);
  for (auto _ : state) benchmark::DoNotOptimize(DotPeak(a.data(), b.data(), 64));
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 64 * 1024 * 2 / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DotPeak);

}  // namespace
}  // namespace lightloop::workloads

BENCHMARK_MAIN();

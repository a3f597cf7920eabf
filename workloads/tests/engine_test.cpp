// SPDX-License-Identifier: Apache-2.0
// The serving engine: every request finishes with its output length; the
// generated tokens of the functional model do not depend on where the KV
// cache lives (all local, preempted by offload, preempted by recomputation,
// prefetches not waited for, corrupted remote copies, prefix-cache hits);
// the metrics follow the step times; a run in virtual time repeats exactly;
// and the summaries' percentiles are nearest-rank.
#include "lightloop/workloads/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "../../memory_offload/tests/delay_tier.h"
#include "lightloop/workloads/executors.h"
#include "lightloop/workloads/llama.h"

namespace lightloop::workloads {
namespace {

namespace fs = std::filesystem;
namespace mo = lightloop::memory_offload;

// A host tier that corrupts one byte of every `every`-th read, counting
// its reads in `*reads` (which outlives the tier: the engine's KV cache
// owns and destroys it).
class CorruptingTier : public mo::HostTier {
 public:
  CorruptingTier(uint64_t slots, uint64_t slot_bytes, int every, int* reads)
      : HostTier(slots, slot_bytes), every_(every), reads_(reads) {}
  mo::StatusOr<mo::Ticket> Read(uint64_t first, uint64_t count, void* dst) override {
    auto t = HostTier::Read(first, count, dst);
    if (t.ok() && ++*reads_ % every_ == 0) static_cast<unsigned char*>(dst)[7] ^= 0x40;
    return t;
  }

 private:
  int every_;
  int* reads_;
};

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("ll-engine-" + std::to_string(::getpid())));
    RandomModelSpec spec{.layers = 2,
                         .hidden_size = 64,
                         .heads = 4,
                         .kv_heads = 2,
                         .head_dim = 16,
                         .intermediate_size = 128,
                         .vocab_size = 512,
                         .seed = 3};
    ASSERT_TRUE(WriteRandomModel(dir_->string(), spec).ok());
    auto m = LlamaModel::Load(dir_->string(), {.block_tokens = 8, .threads = 2});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = m->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  mo::KvShape Shape() const {
    const ModelShape& s = model_->config().shape;
    return {.layers = s.layers,
            .kv_heads = s.kv_heads,
            .head_dim = s.head_dim,
            .dtype_bytes = 2,
            .block_tokens = 8};
  }

  // The remote tier's slot under layout_: a block, or one layer of one.
  uint64_t SlotBytes() const {
    mo::KvBlockManager::Options ko{.shape = Shape(), .local_blocks = 1, .layout = layout_};
    return mo::KvBlockManager::RemoteSlotBytes(ko).value();
  }

  static std::vector<Request> Requests(bool shared_prefix = false) {
    std::vector<Request> rs;
    for (uint64_t i = 0; i < 10; ++i) {
      Request r{.id = i,
                .arrival_s = 0.0001 * static_cast<double>(i % 3),
                .input_tokens = static_cast<uint32_t>(20 + 7 * i),
                .output_tokens = static_cast<uint32_t>(5 + i % 4)};
      if (shared_prefix) r.hash_ids = {42, 43 + i};  // the first 512-token block is common to all
      rs.push_back(r);
    }
    return rs;
  }

  struct Run {
    EngineResult result;
    uint64_t clock = 0;
  };

  // Runs `requests` on a virtual test clock with `local_blocks` local slots.
  // With `model` (default: the suite's) and `weights` (the engine's weight
  // streamer, default none).
  Run Serve(const std::vector<Request>& requests, uint64_t local_blocks, EngineOptions eo,
            std::unique_ptr<mo::RemoteTier> tier = nullptr, uint64_t* clock = nullptr,
            LlamaModel* model = nullptr, mo::WeightStreamer* weights = nullptr) {
    Run run;
    uint64_t* now = clock ? clock : &run.clock;
    // Eviction goes far below the high watermark, so preempted sequences'
    // blocks really leave the local tier.
    mo::KvBlockManager::Options ko{
        .shape = Shape(), .local_blocks = local_blocks, .low_watermark = 0.5, .layout = layout_};
    ko.now_ns = [now] { return *now; };
    if (!tier) tier = std::make_unique<mo::HostTier>(4096, SlotBytes());
    auto kv = mo::KvBlockManager::Create(ko, std::move(tier));
    EXPECT_TRUE(kv.ok()) << kv.status().ToString();
    Accelerator a{
        .name = "test", .bf16_flops = 1e12, .fp8_flops = 2e12, .hbm_bytes_per_s = 1e11, .hbm_bytes = 1e9};
    FunctionalExecutor exec(model ? model : model_, a);
    eo.vocab = model_->config().shape.vocab_size;
    Engine engine(eo, kv->get(), &exec,
                  {.now_ns = [now] { return *now; },
                   .advance_ns = [now](uint64_t ns) { *now += ns; },
                   .is_virtual = true},
                  weights);
    auto r = engine.Run(requests);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) run.result = std::move(*r);
    run.result.outputs.resize(requests.size());
    run.result.times.resize(requests.size());
    return run;
  }

  std::string layout_ = "block_major";  // of the KV cache's remote tier in Serve
  static fs::path* dir_;
  static LlamaModel* model_;
};
fs::path* EngineTest::dir_ = nullptr;
LlamaModel* EngineTest::model_ = nullptr;

TEST_F(EngineTest, EveryRequestFinishesWithItsOutputLength) {
  std::vector<Request> rs = Requests();
  Run r = Serve(rs, 256, {.max_batch_tokens = 64, .prefill_chunk = 16});
  ASSERT_EQ(r.result.outputs.size(), rs.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(r.result.outputs[i].size(), rs[i].output_tokens) << "request " << i;
    EXPECT_EQ(r.result.times[i].token_ns.size(), rs[i].output_tokens);
    for (int32_t t : r.result.outputs[i]) EXPECT_TRUE(t >= 0 && t < 512);
  }
  EXPECT_EQ(r.result.preemptions, 0u);
  EXPECT_EQ(r.result.kv.bytes_offloaded, 0u);
}

TEST_F(EngineTest, TimesFollowTheSteps) {
  std::vector<Request> rs = Requests();
  Run r = Serve(rs, 256, {.max_batch_tokens = 64, .prefill_chunk = 16});
  for (size_t i = 0; i < rs.size(); ++i) {
    const RequestTimes& t = r.result.times[i];
    EXPECT_EQ(t.arrival_ns, static_cast<uint64_t>(rs[i].arrival_s * 1e9));
    EXPECT_GE(t.scheduled_ns, t.arrival_ns);
    EXPECT_GT(t.token_ns.front(), t.scheduled_ns);  // a step takes time
    for (size_t k = 1; k < t.token_ns.size(); ++k) EXPECT_GT(t.token_ns[k], t.token_ns[k - 1]);
  }
  // The clock moved by the modelled compute and the idle gaps, nothing else.
  EXPECT_GE(r.result.elapsed_ns, r.result.compute_ns);
  RunSummary s = Summarize(r.result.times, {});
  EXPECT_EQ(s.finished, rs.size());
  EXPECT_GT(s.ttft_ms.p50, 0);
  EXPECT_LE(s.ttft_ms.p50, s.ttft_ms.p99);
  EXPECT_GT(s.throughput_tok_s, 0);
}

TEST_F(EngineTest, VirtualTimeRunsRepeatExactly) {
  std::vector<Request> rs = Requests();
  EngineOptions eo{.max_batch_tokens = 48, .prefill_chunk = 16};
  Run a = Serve(rs, 32, eo), b = Serve(rs, 32, eo);
  EXPECT_EQ(a.result.outputs, b.result.outputs);
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(a.result.times[i].token_ns, b.result.times[i].token_ns);
  EXPECT_EQ(a.result.kv.bytes_offloaded, b.result.kv.bytes_offloaded);
}

TEST_F(EngineTest, TokensDoNotDependOnWhereTheKvLives) {
  std::vector<Request> rs = Requests();
  Run local = Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16});
  // A local tier that holds two or three sequences: preemption by offload.
  Run offload = Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16});
  EXPECT_GT(offload.result.preemptions, 0u);
  EXPECT_GT(offload.result.kv.bytes_offloaded, 0u);
  EXPECT_GT(offload.result.kv.bytes_fetched, 0u);
  EXPECT_EQ(offload.result.outputs, local.result.outputs);
  // The same by recomputation.
  Run recompute =
      Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16, .preemption = Preemption::kRecompute});
  EXPECT_GT(recompute.result.preemptions, 0u);
  EXPECT_EQ(recompute.result.outputs, local.result.outputs);
  // One token a step, chunks of 3: other batches, same tokens.
  Run small = Serve(rs, 512, {.max_batch_tokens = 3, .prefill_chunk = 3});
  EXPECT_EQ(small.result.outputs, local.result.outputs);
}

TEST_F(EngineTest, LateAndCorruptedBlocksAreRecomputed) {
  std::vector<Request> rs = Requests();
  Run local = Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16});
  // Fetches take 1 ms and best effort does not wait for them.
  uint64_t clock = 0;
  auto slow = std::make_unique<mo::DelayTier>(4096, Shape().block_bytes(), &clock, 1'000'000, 1000);
  Run late =
      Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16, .prefetch = mo::Prefetch::kBestEffort},
            std::move(slow), &clock);
  EXPECT_GT(late.result.kv.not_arrived, 0u);
  EXPECT_GT(late.result.recomputed_tokens, 0u);
  EXPECT_EQ(late.result.outputs, local.result.outputs);
  // Every other read comes back corrupted: the checksum catches it.
  int reads = 0;
  auto bad = std::make_unique<CorruptingTier>(4096, Shape().block_bytes(), 2, &reads);
  Run corrupt = Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16}, std::move(bad));
  EXPECT_GT(reads, 1);
  EXPECT_GT(corrupt.result.kv.checksum_failures, 0u);
  EXPECT_GT(corrupt.result.recomputed_tokens, 0u);
  EXPECT_EQ(corrupt.result.outputs, local.result.outputs);
}

// The largest gap between two consecutive tokens of any request.
uint64_t LongestGap(const EngineResult& r) {
  uint64_t gap = 0;
  for (const RequestTimes& t : r.times) {
    for (size_t k = 1; k < t.token_ns.size(); ++k) gap = std::max(gap, t.token_ns[k] - t.token_ns[k - 1]);
  }
  return gap;
}

// Swapping in within the step (SwapIn::kLayered): a preempted sequence
// joins the step its fetch starts in, each layer waiting for its KV, where
// ahead it sits out a step. Over a tier whose fetches take 50 us, under
// both layouts: the same tokens as all local, nothing voided, and no token
// of any request waits as long as the step it sat out ahead.
TEST_F(EngineTest, LayeredSwapInJoinsTheStepItsFetchStarts) {
  std::vector<Request> rs = Requests();
  Run local = Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16});
  for (const char* layout : {"block_major", "layer_major"}) {
    SCOPED_TRACE(layout);
    layout_ = layout;
    uint64_t clock = 0;
    Run ahead = Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16},
                      std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, 50'000, 100), &clock);
    clock = 0;
    Run layered = Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16, .swap_in = SwapIn::kLayered},
                        std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, 50'000, 100), &clock);
    EXPECT_EQ(ahead.result.layered_swap_ins, 0u);
    EXPECT_GT(layered.result.preemptions, 0u);
    EXPECT_GT(layered.result.layered_swap_ins, 0u);
    EXPECT_LE(layered.result.layered_swap_ins, layered.result.preemptions);
    EXPECT_EQ(layered.result.voided_swap_ins, 0u);
    EXPECT_GT(layered.result.kv.bytes_fetched, 0u);
    EXPECT_EQ(layered.result.outputs, local.result.outputs);
    EXPECT_EQ(ahead.result.outputs, local.result.outputs);
    EXPECT_LT(LongestGap(layered.result), LongestGap(ahead.result));
  }
}

// Writing back after prefill (WriteBack::kAfterPrefill): with room for
// everything locally, every prompt's blocks still reach the remote tier
// (layer by layer under layer_major, whole blocks under block_major) and
// nothing else does; under preemption the tokens are those of an all-local
// run.
TEST_F(EngineTest, WriteBackAfterPrefillSendsEachPromptOut) {
  std::vector<Request> rs = Requests();
  Run local = Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16});
  EXPECT_EQ(local.result.kv.bytes_offloaded, 0u);
  uint64_t prompt_blocks = 0;
  for (const Request& r : rs) prompt_blocks += (r.input_tokens + 7) / 8;
  for (const char* layout : {"block_major", "layer_major"}) {
    SCOPED_TRACE(layout);
    layout_ = layout;
    Run out =
        Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16, .write_back = WriteBack::kAfterPrefill});
    EXPECT_EQ(out.result.prefill_write_backs, rs.size());
    EXPECT_EQ(out.result.kv.bytes_offloaded, prompt_blocks * Shape().block_bytes());
    EXPECT_EQ(out.result.outputs, local.result.outputs);
    Run both =
        Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16, .write_back = WriteBack::kAfterPrefill});
    EXPECT_GT(both.result.preemptions, 0u);
    EXPECT_GT(both.result.kv.bytes_fetched, 0u);
    EXPECT_EQ(both.result.outputs, local.result.outputs);
  }
}

// A layer that comes back lost or is not waited for voids the sequence's
// part of the step; it is computed again after the recompute, and the
// tokens stay those of an all-local run.
TEST_F(EngineTest, LayeredSwapInVoidsAStepOverALostOrLateLayer) {
  std::vector<Request> rs = Requests();
  Run local = Serve(rs, 512, {.max_batch_tokens = 64, .prefill_chunk = 16});
  layout_ = "layer_major";
  int reads = 0;
  auto bad = std::make_unique<CorruptingTier>(4096, SlotBytes(), 3, &reads);
  Run corrupt = Serve(rs, 32, {.max_batch_tokens = 64, .prefill_chunk = 16, .swap_in = SwapIn::kLayered},
                      std::move(bad));
  EXPECT_GT(corrupt.result.kv.checksum_failures, 0u);
  EXPECT_GT(corrupt.result.voided_swap_ins, 0u);
  EXPECT_EQ(corrupt.result.outputs, local.result.outputs);
  // Layers not waited for (best_effort), under both layouts. Under
  // block_major the reads would land in the blocks themselves, and a step
  // that gave up on them still writes its new tokens into the last block,
  // so such fetches read through staging: no check fails on a tier that
  // corrupts nothing. (The test tier lands reads only when polled, so it
  // cannot show a read landing after those writes.)
  for (const auto& [layout, latency_ns] :
       {std::pair{"layer_major", 1'000'000}, std::pair{"block_major", 2'000}}) {
    SCOPED_TRACE(layout);
    layout_ = layout;
    uint64_t clock = 0;
    Run late = Serve(rs, 32,
                     {.max_batch_tokens = 64,
                      .prefill_chunk = 16,
                      .swap_in = SwapIn::kLayered,
                      .prefetch = mo::Prefetch::kBestEffort},
                     std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, latency_ns, 100), &clock);
    EXPECT_GT(late.result.voided_swap_ins, 0u);
    EXPECT_EQ(late.result.kv.checksum_failures, 0u);
    EXPECT_EQ(late.result.outputs, local.result.outputs);
  }
}

// Both executors call the layer hook before each layer, in order, with the
// step's modelled time; the hook's error ends the step with it.
TEST_F(EngineTest, ExecutorsCallTheLayerHookBeforeEachLayer) {
  ModelShape m = model_->config().shape;
  Accelerator a{
      .name = "test", .bf16_flops = 1e12, .fp8_flops = 2e12, .hbm_bytes_per_s = 1e11, .hbm_bytes = 1e9};
  ShapeExecutor shape(m, a);
  FunctionalExecutor functional(model_, a);
  std::vector<int32_t> tokens(4, 1);
  std::vector<unsigned char> block(Shape().block_bytes(), 0);
  StepItem prefill{.request_id = 2, .tokens = tokens.data(), .count = 4, .start_pos = 0, .emits = true};
  prefill.blocks = {block.data()};
  for (StepExecutor* exec : {static_cast<StepExecutor*>(&shape), static_cast<StepExecutor*>(&functional)}) {
    std::vector<int64_t> seen;
    uint64_t step_ns = 0;
    auto out =
        exec->Run({prefill}, [&](int64_t l, int64_t layers, uint64_t ns) -> runtime::StatusOr<const void*> {
          EXPECT_EQ(layers, m.layers);
          seen.push_back(l);
          step_ns = ns;
          return nullptr;
        });
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(seen, (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(step_ns, out->modelled_ns);
    auto failed = exec->Run({prefill}, [](int64_t l, int64_t, uint64_t) -> runtime::StatusOr<const void*> {
      if (l == 1) return runtime::Internal("layer 1 lost");
      return nullptr;
    });
    EXPECT_FALSE(failed.ok());
    EXPECT_NE(failed.status().ToString().find("layer 1 lost"), std::string::npos);
  }
}

// Sequences that share prefix blocks, preempted by offload and swapped back
// in, in both swap-in modes: a block being fetched for one sequence is not
// taken up by another (as a prefix hit or a second fetch) until that fetch
// is finished, and the tokens are those of a run with room for everything.
TEST_F(EngineTest, SharedPrefixesSurvivePreemptionAndSwapIn) {
  std::vector<Request> rs = Requests(true);
  for (Request& r : rs) r.input_tokens += 600;  // past the shared 512-token block
  Run roomy = Serve(rs, 4096, {.max_batch_tokens = 256, .prefill_chunk = 128});
  for (SwapIn mode : {SwapIn::kAhead, SwapIn::kLayered}) {
    SCOPED_TRACE(mode == SwapIn::kAhead ? "ahead" : "layered");
    uint64_t clock = 0;
    Run tight = Serve(rs, 200, {.max_batch_tokens = 256, .prefill_chunk = 128, .swap_in = mode},
                      std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, 50'000, 100), &clock);
    EXPECT_GT(tight.result.preemptions, 0u);
    EXPECT_GT(tight.result.kv.prefix_hits, 0u);
    EXPECT_EQ(tight.result.outputs, roomy.result.outputs);
  }
}

// A sequence preempted in its prefill and swapped in layer by layer
// appends its next prompt blocks unnamed (its step may be voided) and names
// them once the step is through (KvBlockManager::NamePrefix): a request
// that comes later with the same prompt finds all of its full blocks, as
// many as when the sequence swapped in ahead of its step.
TEST_F(EngineTest, LayeredSwapInNamesItsPromptBlocksForLaterRequests) {
  std::vector<Request> rs = Requests();
  for (Request& r : rs) {
    r.input_tokens += 600;
    r.hash_ids = {1000 + r.id, 2000 + r.id};  // prompts of their own
  }
  std::vector<Request> with_late = rs;
  Request late = rs.back();
  late.id = 100;
  late.arrival_s = 1.0;  // after every other request is done
  with_late.push_back(late);
  const uint64_t full_blocks = late.input_tokens / 8;
  uint64_t late_hits[2] = {0, 0};
  for (SwapIn mode : {SwapIn::kAhead, SwapIn::kLayered}) {
    SCOPED_TRACE(mode == SwapIn::kAhead ? "ahead" : "layered");
    EngineOptions eo{.max_batch_tokens = 256, .prefill_chunk = 64, .swap_in = mode};
    uint64_t clock = 0;
    Run alone =
        Serve(rs, 200, eo, std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, 50'000, 100), &clock);
    clock = 0;
    Run both = Serve(with_late, 200, eo,
                     std::make_unique<mo::DelayTier>(4096, SlotBytes(), &clock, 50'000, 100), &clock);
    EXPECT_GT(both.result.preemptions, 0u);
    if (mode == SwapIn::kLayered) EXPECT_GT(both.result.layered_swap_ins, 0u);
    const uint64_t hits = both.result.kv.prefix_hits - alone.result.kv.prefix_hits;
    late_hits[mode == SwapIn::kLayered] = hits;
    // Its last full block is the one it computes to emit its first token.
    EXPECT_GE(hits, full_blocks - 1);
    EXPECT_EQ(both.result.outputs[rs.size()], both.result.outputs[rs.size() - 1]);
  }
  EXPECT_EQ(late_hits[1], late_hits[0]);
}

// Layer weights streamed from the remote tier (the engine's weight
// streamer): the model keeps no layer of its own, each step takes every
// layer's weights from the streamer, and the tokens are the resident
// model's. With one buffer every layer of every step is read again and
// waited for; with as many buffers as the (two) layers, each is read once
// and stays. (The overlap of double buffering on deeper models:
// WeightStreamer's tests and `bench weights`.)
TEST_F(EngineTest, StreamedWeightsGiveTheResidentModelsTokens) {
  std::vector<Request> rs = Requests();
  const EngineOptions eo{.max_batch_tokens = 64, .prefill_chunk = 16};
  Run resident = Serve(rs, 512, eo);
  auto own = LlamaModel::Load(dir_->string(), {.block_tokens = 8, .threads = 2});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  LlamaModel& model = **own;
  model.DropResidentLayers();
  std::vector<SeqChunk> chunk(1);
  std::vector<int32_t> tokens = {1, 2};
  std::vector<unsigned char> block(Shape().block_bytes());
  chunk[0] = {.tokens = tokens, .start_pos = 0, .kv = {{block.data()}}};
  auto without = model.Forward(chunk);
  ASSERT_FALSE(without.ok()) << "no layer weights, none given";
  EXPECT_NE(without.status().ToString().find("layer 0"), std::string::npos) << without.status().ToString();

  const int64_t layers = model_->config().shape.layers;
  const uint64_t lb = model.LayerWeightBytes();
  uint64_t stall_ns[3] = {0, 0, 0};
  for (int64_t buffers : {1, 2}) {
    SCOPED_TRACE(buffers);
    uint64_t clock = 0;
    mo::WeightStreamer::Options wo{.layer_bytes = lb, .layers = layers, .buffers = buffers};
    wo.now_ns = [&clock] { return clock; };
    auto ws = mo::WeightStreamer::Create(
        wo, std::make_unique<mo::DelayTier>(static_cast<uint64_t>(layers), lb, &clock, 50'000, 100));
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    std::vector<unsigned char> layer(lb);
    for (int64_t l = 0; l < layers; ++l) {
      ASSERT_TRUE(model_->CopyLayerWeights(l, layer.data()).ok());
      ASSERT_TRUE((*ws)->Store(l, layer.data()).ok());
    }
    Run streamed = Serve(rs, 512, eo, nullptr, &clock, &model, ws->get());
    EXPECT_EQ(streamed.result.outputs, resident.result.outputs);
    const mo::WeightStats& w = streamed.result.weights;
    EXPECT_EQ(w.fetches, static_cast<uint64_t>(layers) * (buffers == 1 ? streamed.result.steps : 1));
    EXPECT_EQ(w.bytes_fetched, w.fetches * lb);
    EXPECT_GT(w.stalls, 0u);
    stall_ns[buffers] = w.stall_ns;
  }
  EXPECT_LT(stall_ns[2], stall_ns[1]);
}

TEST_F(EngineTest, SharedPrefixesHitThePrefixCache) {
  std::vector<Request> rs = Requests(true);
  for (Request& r : rs) r.input_tokens += 600;  // past the shared 512-token block
  Run cached = Serve(rs, 2048, {.max_batch_tokens = 256, .prefill_chunk = 128});
  Run plain = Serve(rs, 2048, {.max_batch_tokens = 256, .prefill_chunk = 128, .prefix_cache = false});
  // Requests admitted after the first has computed the shared 512 tokens
  // reuse them (the two admitted with it in its first step cannot).
  EXPECT_GE(cached.result.kv.prefix_hits, 7u * (512 / 8));
  EXPECT_EQ(plain.result.kv.prefix_hits, 0u);
  EXPECT_EQ(cached.result.outputs, plain.result.outputs);
  EXPECT_LT(cached.result.compute_ns, plain.result.compute_ns);
}

TEST_F(EngineTest, RequestsThatCanNeverFitAreRejectedNotHung) {
  std::vector<Request> rs = Requests();
  rs[3].input_tokens = 4000;  // 500 blocks in a 64-slot tier
  Run r = Serve(rs, 128, {.max_batch_tokens = 64, .prefill_chunk = 16});
  EXPECT_EQ(r.result.rejected, 1u);
  EXPECT_TRUE(r.result.outputs[3].empty());
  EXPECT_EQ(r.result.outputs[4].size(), rs[4].output_tokens);
}

TEST_F(EngineTest, ShapeModeTakesTheRooflineTime) {
  ModelShape m = model_->config().shape;
  Accelerator a{
      .name = "test", .bf16_flops = 1e12, .fp8_flops = 2e12, .hbm_bytes_per_s = 1e11, .hbm_bytes = 1e9};
  ShapeExecutor shape(m, a);
  std::vector<int32_t> tokens(4, 1);
  StepItem decode{.request_id = 1, .tokens = tokens.data(), .count = 1, .start_pos = 100, .emits = true};
  StepItem prefill{.request_id = 2, .tokens = tokens.data(), .count = 4, .start_pos = 0, .emits = false};
  auto out = shape.Run({decode, prefill});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->tokens.size(), 1u);
  EXPECT_EQ(out->tokens[0], ShapeToken(1, 101, m.vocab_size));
  StepCost c = BatchStep(m, a, {{1, 100}, {4, 0}});
  EXPECT_EQ(out->modelled_ns, static_cast<uint64_t>(std::llround(c.seconds * 1e9)));
  // The weights are read once a step, however many sequences share it.
  StepCost one = BatchStep(m, a, {{1, 100}});
  EXPECT_LT(c.bytes, 2 * one.bytes);
}

TEST(Metrics, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  Distribution d = Summarize(v);
  EXPECT_EQ(d.p50, 50);
  EXPECT_EQ(d.p90, 90);
  EXPECT_EQ(d.p99, 99);
  EXPECT_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_EQ(Summarize(std::vector<double>{}).count, 0u);
}

TEST(Metrics, RequestSummaries) {
  // Arrives at 0, scheduled at 1 ms, tokens at 10, 12, 16 ms.
  RequestTimes a{
      .arrival_ns = 0, .scheduled_ns = 1'000'000, .token_ns = {10'000'000, 12'000'000, 16'000'000}};
  RequestTimes b{.arrival_ns = 2'000'000, .scheduled_ns = 2'000'000, .token_ns = {30'000'000}};
  RunSummary s = Summarize({a, b}, {.ttft_ms = 20});
  EXPECT_EQ(s.finished, 2u);
  EXPECT_EQ(s.output_tokens, 4u);
  EXPECT_DOUBLE_EQ(s.ttft_ms.max, 28);
  EXPECT_DOUBLE_EQ(s.tpot_ms.mean, 3);  // (16 - 10) / 2
  EXPECT_EQ(s.itl_ms.count, 2u);
  EXPECT_DOUBLE_EQ(s.e2e_ms.p50, 16);
  EXPECT_EQ(s.slo_met, 1u);  // b's TTFT is 28 ms
  EXPECT_DOUBLE_EQ(s.span_s, 0.030);
  EXPECT_DOUBLE_EQ(s.throughput_tok_s, 4 / 0.030);
}

}  // namespace
}  // namespace lightloop::workloads

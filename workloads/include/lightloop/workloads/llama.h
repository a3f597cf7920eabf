// SPDX-License-Identifier: Apache-2.0
// The functional mode's model: a Llama-architecture decoder computed in
// float32 on the CPU (RMSNorm, rotary embeddings in the Hugging Face
// convention, grouped-query attention over a paged KV cache, SwiGLU MLP),
// with weights under their Hugging Face names read from safetensors.
//
// The KV cache belongs to the caller (memory_offload's KvBlockManager): each
// sequence hands over its block table. A block holds `block_tokens` tokens:
//
//   for each layer l in order: K[block_tokens][kv_heads][head_dim], then
//                              V[block_tokens][kv_heads][head_dim]
//
// every value bf16 (2 bytes, little-endian, rounded to nearest even), so a
// block is 2 * layers * block_tokens * kv_heads * head_dim * 2 bytes (K after
// the rotary embedding). The token at position p is row p % block_tokens of
// block p / block_tokens.
//
// Determinism: a token's logits are bit-identical whatever batch it is in,
// however its sequence is chunked (whole prompt, chunks, one token at a time)
// and whatever the number of threads. Every token is computed on its own,
// every sum has one fixed order, threads split only output rows and
// (token, head) pairs, and a token attends to its own K/V as read back from
// the bf16 cache, like every earlier position.
//
//   LL_ASSIGN_OR_RETURN(auto model, LlamaModel::Load("models/tiny", {.block_tokens = 16}));
//   std::vector<unsigned char> block(model->KvBlockBytes());
//   std::vector<int32_t> prompt = {1, 2, 3};
//   SeqChunk c{.tokens = prompt, .start_pos = 0, .kv = {{block.data()}}};
//   LL_ASSIGN_OR_RETURN(auto logits, model->Forward({&c, 1}));
//   int32_t next = Greedy(logits[0]);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"
#include "lightloop/workloads/model_shape.h"
#include "lightloop/workloads/safetensors.h"

namespace lightloop::workloads {

namespace internal {
class ThreadPool;
struct LlamaWeights;
}  // namespace internal

// config.json: the shape (ReadModelShape) and the numerics.
struct LlamaConfig {
  ModelShape shape;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
};
// Errors name the file and key; mixture-of-experts models are refused.
runtime::StatusOr<LlamaConfig> ReadLlamaConfig(const std::string& path);

// A sequence's KV block table: every block resident, block_bytes each.
struct KvView {
  std::vector<unsigned char*> blocks;
};

// Tokens at positions [start_pos, start_pos + tokens.size()) of one sequence.
struct SeqChunk {
  std::span<const int32_t> tokens;
  int64_t start_pos = 0;
  KvView kv;  // must cover position start_pos + tokens.size() - 1
  bool want_logits = true;
};

struct LlamaOptions {
  int64_t block_tokens = 16;
  int threads = 0;  // 0: std::thread::hardware_concurrency()
};

class LlamaModel {
 public:
  // Reads dir/config.json and the weights (model.safetensors, or shards
  // through model.safetensors.index.json). A missing tensor or a wrong shape
  // is an error naming the tensor and the expected shape.
  static runtime::StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& dir,
                                                             const LlamaOptions& options = {});
  ~LlamaModel();

  const LlamaConfig& config() const { return config_; }
  int64_t block_tokens() const { return block_tokens_; }
  uint64_t KvBlockBytes() const;
  int threads() const;
  void SetThreads(int threads);  // 0: hardware_concurrency

  // Computes every chunk's tokens, writing their K and V into the chunk's
  // blocks and attending, for the token at position p, over positions
  // [0, p] (earlier ones read from the blocks). Returns one vector per
  // chunk: the vocab_size logits of its last token when want_logits, else
  // empty. Chunks of one call must not write the same block. One Forward
  // at a time per model (it owns the thread pool). A non-empty
  // `before_layer` is called with each layer before it is computed (its
  // error ends the pass): the blocks need only hold layer l from then on.
  // It returns the layer's weights (LayerWeightBytes, as CopyLayerWeights
  // writes them) when it streams them, valid until the layer is computed,
  // or null for the resident ones.
  using LayerWeightsHook = std::function<runtime::StatusOr<const void*>(int64_t layer)>;
  runtime::StatusOr<std::vector<std::vector<float>>> Forward(std::span<const SeqChunk> chunks,
                                                             const LayerWeightsHook& before_layer = {});

  // One layer's weights as one piece, what a weight streamer stores and
  // fetches per layer: input norm, q|k|v, o, post-attention norm, gate|up,
  // down (rows as in the checkpoint), in bf16 when every weight of every
  // layer is a bf16 value (a bf16 checkpoint: half the bytes on the link,
  // nothing lost), else float32.
  uint64_t LayerWeightBytes() const;
  bool LayerWeightsAreBf16() const { return bf16_layers_; }
  // Writes layer `layer`'s resident weights in that form to `out`
  // (LayerWeightBytes); an error once they are dropped.
  runtime::Status CopyLayerWeights(int64_t layer, void* out) const;
  // Frees the resident layer weights (the embedding, the final norm and the
  // head stay): from then on `before_layer` gives every layer's.
  void DropResidentLayers();

 private:
  struct Batch;
  LlamaModel();
  // The steps of Forward; x is [tokens][hidden_size], updated in place.
  // `packed`: the layer's weights as LayerWeights lays them out.
  void AttentionBlock(const Batch& batch, int64_t layer, const float* packed, std::vector<float>& x);
  void MlpBlock(const float* packed, std::vector<float>& x);
  std::vector<std::vector<float>> Logits(std::span<const SeqChunk> chunks, const std::vector<float>& x);

  LlamaConfig config_;
  int64_t block_tokens_ = 16;
  std::unique_ptr<internal::LlamaWeights> weights_;
  bool bf16_layers_ = false;
  std::vector<float> streamed_layer_;  // a bf16 layer given to Forward, widened
  std::unique_ptr<internal::ThreadPool> pool_;
};

// The highest logit's index (the lowest index on ties).
int32_t Greedy(std::span<const float> logits);
// Draws from softmax(logits / temperature) over the top_k highest logits
// (top_k <= 0: all); temperature <= 0 is Greedy. `rng_state` is a
// splitmix64 state, advanced once per call: the same seed gives the same
// tokens on every machine.
int32_t Sample(std::span<const float> logits, float temperature, int top_k, uint64_t& rng_state);

// A small Llama with seeded random weights, for tests and benchmarks.
// Embeddings are N(0, 1), each linear layer N(0, 1 / in_features) (so
// activations and attention scores stay of order one and the logits are
// varied), norm weights 1 + N(0, 0.1^2).
struct RandomModelSpec {
  int64_t layers = 4;
  int64_t hidden_size = 256;
  int64_t heads = 8;
  int64_t kv_heads = 2;
  int64_t head_dim = 32;
  int64_t intermediate_size = 688;
  int64_t vocab_size = 4096;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = false;
  Dtype dtype = Dtype::kBF16;  // of model.safetensors
  uint64_t seed = 1;
};
// Writes dir/config.json and dir/model.safetensors (creating dir).
runtime::Status WriteRandomModel(const std::string& dir, const RandomModelSpec& spec = {});

}  // namespace lightloop::workloads

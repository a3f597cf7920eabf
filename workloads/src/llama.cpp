// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/llama.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llama_kernels.h"

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;
using internal::Dot;
using internal::Matmul;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Moves tensor `name` out of `tensors`, checking its shape.
rt::StatusOr<std::vector<float>> Take(TensorMap& tensors, const std::string& dir, const std::string& name,
                                      const std::vector<int64_t>& shape) {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    return rt::NotFound(dir + ": tensor '" + name + "' is missing (expected shape " + ShapeText(shape) + ")");
  }
  if (it->second.shape != shape) {
    return rt::InvalidArgument(dir + ": tensor '" + name + "' has shape " + ShapeText(it->second.shape) +
                               ", expected " + ShapeText(shape));
  }
  return std::move(it->second.data);
}

// Keys that would change the arithmetic of a plain Llama, refused rather
// than ignored.
rt::Status RefuseVariants(const nlohmann::json& j, const std::string& path) {
  for (const char* key : {"num_local_experts", "num_experts", "n_routed_experts"}) {
    if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() > 1) {
      return rt::Unimplemented(path + ": key '" + key + "' = " + std::to_string(j[key].get<int64_t>()) +
                               ": mixture-of-experts models are not supported in functional mode");
    }
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    return rt::Unimplemented(path + ": key 'rope_scaling' is not supported in functional mode");
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (j.value(key, false) == true)
      return rt::Unimplemented(path + ": key '" + key + "' = true is not supported");
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "silu") {
    return rt::Unimplemented(path + ": key 'hidden_act' must be \"silu\"");
  }
  return rt::Status::Ok();
}

rt::StatusOr<double> PositiveNumber(const nlohmann::json& j, const char* key, double fallback,
                                    const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number() || j[key].get<double>() <= 0) {
    return rt::InvalidArgument(path + ": key '" + std::string(key) + "' must be a positive number");
  }
  return j[key].get<double>();
}

}  // namespace

rt::StatusOr<LlamaConfig> ReadLlamaConfig(const std::string& path) {
  LlamaConfig c;
  LL_ASSIGN_OR_RETURN(c.shape, ReadModelShape(path));
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return rt::InvalidArgument(path + ": not a JSON object");
  LL_RETURN_IF_ERROR(RefuseVariants(j, path));
  LL_ASSIGN_OR_RETURN(c.rope_theta, PositiveNumber(j, "rope_theta", 10000.0, path));
  LL_ASSIGN_OR_RETURN(c.rms_norm_eps, PositiveNumber(j, "rms_norm_eps", 1e-5, path));
  if (c.shape.head_dim % 2 != 0) return rt::InvalidArgument(path + ": key 'head_dim' must be even for RoPE");
  return c;
}

// Weights as float32, with q/k/v and gate/up concatenated by rows so that
// each is one matrix product (a row's dot product does not change).
// A layer's weights are one array, in the order of View's members, so that
// a layer can be stored and streamed as one piece (LayerWeightBytes).
struct internal::LlamaWeights {
  struct View {
    const float *attn_norm, *qkv, *o, *mlp_norm, *gate_up, *down;
  };
  struct Layer {
    std::vector<float> packed;  // empty once the layers are streamed
  };
  // Layer weights at `p` in the packed order, for a model of shape `s`.
  static View ViewOf(const float* p, const ModelShape& s) {
    const int64_t h = s.hidden_size, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
    const int64_t m = s.intermediate_size;
    View v{};
    v.attn_norm = p;
    v.qkv = v.attn_norm + h;
    v.o = v.qkv + (q + 2 * kv) * h;
    v.mlp_norm = v.o + h * q;
    v.gate_up = v.mlp_norm + h;
    v.down = v.gate_up + 2 * m * h;
    return v;
  }
  static uint64_t LayerFloats(const ModelShape& s) {
    const int64_t h = s.hidden_size, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
    const int64_t m = s.intermediate_size;
    return static_cast<uint64_t>(2 * h + (q + 2 * kv) * h + h * q + 3 * m * h);
  }
  std::vector<float> embed;  // [vocab][hidden]
  std::vector<Layer> layers;
  std::vector<float> norm;
  std::vector<float> lm_head;  // [vocab][hidden]; empty when tied to embed
  const float* head() const { return lm_head.empty() ? embed.data() : lm_head.data(); }
};

namespace {

std::vector<float> Concat(std::vector<float> a, const std::vector<float>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

rt::StatusOr<internal::LlamaWeights::Layer> TakeLayer(TensorMap& t, const std::string& dir,
                                                      const ModelShape& s, int64_t i) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t h = s.hidden_size, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  const int64_t m = s.intermediate_size;
  // In the packed order (LlamaWeights::ViewOf).
  const std::vector<std::pair<std::string, std::vector<int64_t>>> parts = {
      {"input_layernorm.weight", {h}},      {"self_attn.q_proj.weight", {q, h}},
      {"self_attn.k_proj.weight", {kv, h}}, {"self_attn.v_proj.weight", {kv, h}},
      {"self_attn.o_proj.weight", {h, q}},  {"post_attention_layernorm.weight", {h}},
      {"mlp.gate_proj.weight", {m, h}},     {"mlp.up_proj.weight", {m, h}},
      {"mlp.down_proj.weight", {h, m}}};
  internal::LlamaWeights::Layer l;
  l.packed.reserve(internal::LlamaWeights::LayerFloats(s));
  for (const auto& [name, shape] : parts) {
    LL_ASSIGN_OR_RETURN(std::vector<float> w, Take(t, dir, p + name, shape));
    l.packed = Concat(std::move(l.packed), w);
  }
  return l;
}

rt::StatusOr<std::unique_ptr<internal::LlamaWeights>> TakeWeights(TensorMap& t, const std::string& dir,
                                                                  const ModelShape& s) {
  auto w = std::make_unique<internal::LlamaWeights>();
  const int64_t h = s.hidden_size, v = s.vocab_size;
  LL_ASSIGN_OR_RETURN(w->embed, Take(t, dir, "model.embed_tokens.weight", {v, h}));
  for (int64_t i = 0; i < s.layers; ++i) {
    LL_ASSIGN_OR_RETURN(internal::LlamaWeights::Layer l, TakeLayer(t, dir, s, i));
    w->layers.push_back(std::move(l));
  }
  LL_ASSIGN_OR_RETURN(w->norm, Take(t, dir, "model.norm.weight", {h}));
  if (!s.tied_embeddings) {
    LL_ASSIGN_OR_RETURN(w->lm_head, Take(t, dir, "lm_head.weight", {v, h}));
  }
  return w;
}

}  // namespace

LlamaModel::LlamaModel() = default;
LlamaModel::~LlamaModel() = default;

rt::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& dir,
                                                           const LlamaOptions& options) {
  if (options.block_tokens <= 0) return rt::InvalidArgument("LlamaOptions.block_tokens must be positive");
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel());
  LL_ASSIGN_OR_RETURN(model->config_, ReadLlamaConfig((std::filesystem::path(dir) / "config.json").string()));
  LL_ASSIGN_OR_RETURN(TensorMap tensors, ReadSafetensorsDir(dir));
  LL_ASSIGN_OR_RETURN(model->weights_, TakeWeights(tensors, dir, model->config_.shape));
  // Layers whose every weight is a bf16 value (read from bf16) travel as bf16.
  model->bf16_layers_ = std::all_of(model->weights_->layers.begin(), model->weights_->layers.end(),
                                    [](const internal::LlamaWeights::Layer& l) {
                                      return std::all_of(l.packed.begin(), l.packed.end(), [](float f) {
                                        return (std::bit_cast<uint32_t>(f) & 0xffffu) == 0;
                                      });
                                    });
  model->block_tokens_ = options.block_tokens;
  model->SetThreads(options.threads);
  return model;
}

uint64_t LlamaModel::KvBlockBytes() const {
  const ModelShape& s = config_.shape;
  return 2ull * static_cast<uint64_t>(s.layers * block_tokens_ * s.kv_heads * s.head_dim) * 2ull;
}

int LlamaModel::threads() const {
  return pool_->threads();
}
void LlamaModel::SetThreads(int threads) {
  pool_ = std::make_unique<internal::ThreadPool>(threads);
}

// One forward call's tokens, flattened: token t of the batch is chunk
// chunk[t]'s token at position pos[t].
struct LlamaModel::Batch {
  std::vector<int32_t> token;
  std::vector<int64_t> pos;
  std::vector<const SeqChunk*> chunk;
  std::vector<float> cos, sin;  // [token][head_dim / 2], the rotary angles of pos
  int64_t size() const { return static_cast<int64_t>(token.size()); }
};

namespace {

rt::Status CheckChunk(const SeqChunk& c, size_t index, const ModelShape& s, int64_t block_tokens) {
  const std::string where = "Forward: chunk " + std::to_string(index);
  if (c.tokens.empty()) return rt::InvalidArgument(where + " has no tokens");
  if (c.start_pos < 0) return rt::InvalidArgument(where + ": start_pos is negative");
  for (int32_t t : c.tokens) {
    if (t < 0 || t >= s.vocab_size) {
      return rt::OutOfRange(where + ": token " + std::to_string(t) + " outside the vocabulary of " +
                            std::to_string(s.vocab_size));
    }
  }
  const int64_t last = c.start_pos + static_cast<int64_t>(c.tokens.size()) - 1;
  if (static_cast<int64_t>(c.kv.blocks.size()) <= last / block_tokens) {
    return rt::OutOfRange(where + ": " + std::to_string(c.kv.blocks.size()) +
                          " KV blocks do not cover position " + std::to_string(last));
  }
  for (size_t b = 0; b <= static_cast<size_t>(last / block_tokens); ++b) {
    if (c.kv.blocks[b] == nullptr || reinterpret_cast<uintptr_t>(c.kv.blocks[b]) % 2 != 0) {
      return rt::InvalidArgument(where + ": KV block " + std::to_string(b) +
                                 " is null or not 2-byte aligned");
    }
  }
  return rt::Status::Ok();
}

// Where layer l's K (kind 0) or V (kind 1) of kv head g at position p lives.
struct KvAddress {
  int64_t block_tokens, kv_heads, head_dim;
  uint16_t* operator()(const KvView& kv, int64_t l, int kind, int64_t p, int64_t g) const {
    const int64_t row = ((l * 2 + kind) * block_tokens + p % block_tokens) * kv_heads + g;
    return reinterpret_cast<uint16_t*>(kv.blocks[static_cast<size_t>(p / block_tokens)]) + row * head_dim;
  }
};

void ToBf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBf16(src[i]);
}
void FromBf16(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(src[i]);
}

// One token's attention for the query heads of kv head g: scores over
// positions [0, p] in ascending order, a max-subtracted softmax, then the
// weighted sum of V in ascending order.
void AttendGroup(const float* q, const KvView& kv, const KvAddress& at, int64_t l, int64_t p, int64_t g,
                 int64_t group, float* out) {
  const int64_t d = at.head_dim, n = p + 1;
  thread_local std::vector<float> scores, row;
  scores.resize(static_cast<size_t>(group * n));
  row.resize(static_cast<size_t>(d));
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t j = 0; j < n; ++j) {
    FromBf16(at(kv, l, 0, j, g), row.data(), d);
    for (int64_t h = 0; h < group; ++h) scores[h * n + j] = Dot(q + h * d, row.data(), d) * scale;
  }
  std::vector<float> sum(static_cast<size_t>(group), 0.0f);
  for (int64_t h = 0; h < group; ++h) {
    float* s = scores.data() + h * n;
    const float max = *std::max_element(s, s + n);
    for (int64_t j = 0; j < n; ++j) sum[h] += (s[j] = std::exp(s[j] - max));
  }
  std::fill(out, out + group * d, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    FromBf16(at(kv, l, 1, j, g), row.data(), d);
    for (int64_t h = 0; h < group; ++h) {
      for (int64_t e = 0; e < d; ++e) out[h * d + e] += scores[h * n + j] * row[e];
    }
  }
  for (int64_t h = 0; h < group; ++h) {
    for (int64_t e = 0; e < d; ++e) out[h * d + e] /= sum[h];
  }
}

float Silu(float x) {
  return x / (1.0f + std::exp(-x));
}

}  // namespace

uint64_t LlamaModel::LayerWeightBytes() const {
  return internal::LlamaWeights::LayerFloats(config_.shape) * (bf16_layers_ ? 2 : sizeof(float));
}

rt::Status LlamaModel::CopyLayerWeights(int64_t layer, void* out) const {
  if (layer < 0 || layer >= config_.shape.layers) {
    return rt::OutOfRange("llama: no layer " + std::to_string(layer) + " (the model has " +
                          std::to_string(config_.shape.layers) + ")");
  }
  const std::vector<float>& packed = weights_->layers[static_cast<size_t>(layer)].packed;
  if (packed.empty()) return rt::FailedPrecondition("llama: layer weights were dropped (DropResidentLayers)");
  if (!bf16_layers_) {
    std::memcpy(out, packed.data(), packed.size() * sizeof(float));
  } else {
    auto* wire = static_cast<uint16_t*>(out);
    for (size_t i = 0; i < packed.size(); ++i) wire[i] = FloatToBf16(packed[i]);  // exact: see Load
  }
  return rt::Status::Ok();
}

void LlamaModel::DropResidentLayers() {
  for (internal::LlamaWeights::Layer& l : weights_->layers) std::vector<float>().swap(l.packed);
}

rt::StatusOr<std::vector<std::vector<float>>> LlamaModel::Forward(std::span<const SeqChunk> chunks,
                                                                  const LayerWeightsHook& before_layer) {
  const ModelShape& s = config_.shape;
  Batch b;
  for (size_t i = 0; i < chunks.size(); ++i) {
    LL_RETURN_IF_ERROR(CheckChunk(chunks[i], i, s, block_tokens_));
    for (size_t k = 0; k < chunks[i].tokens.size(); ++k) {
      b.token.push_back(chunks[i].tokens[k]);
      b.pos.push_back(chunks[i].start_pos + static_cast<int64_t>(k));
      b.chunk.push_back(&chunks[i]);
    }
  }
  const int64_t h = s.hidden_size, half = s.head_dim / 2;
  b.cos.resize(static_cast<size_t>(b.size() * half));
  b.sin.resize(b.cos.size());
  for (int64_t t = 0; t < b.size(); ++t) {
    internal::RopeAngles(b.pos[t], s.head_dim, config_.rope_theta, &b.cos[t * half], &b.sin[t * half]);
  }
  std::vector<float> x(static_cast<size_t>(b.size() * h));
  for (int64_t t = 0; t < b.size(); ++t) {
    std::memcpy(&x[t * h], &weights_->embed[b.token[t] * h], static_cast<size_t>(h) * sizeof(float));
  }
  for (int64_t l = 0; l < s.layers; ++l) {
    const void* given = nullptr;
    if (before_layer) {
      LL_ASSIGN_OR_RETURN(given, before_layer(l));
    }
    const float* packed = static_cast<const float*>(given);
    if (packed != nullptr && bf16_layers_) {
      const auto* wire = static_cast<const uint16_t*>(given);
      streamed_layer_.resize(internal::LlamaWeights::LayerFloats(s));
      for (size_t i = 0; i < streamed_layer_.size(); ++i) streamed_layer_[i] = Bf16ToFloat(wire[i]);
      packed = streamed_layer_.data();
    }
    if (packed == nullptr) {
      const std::vector<float>& resident = weights_->layers[static_cast<size_t>(l)].packed;
      if (resident.empty()) {
        return rt::FailedPrecondition("llama: layer " + std::to_string(l) +
                                      "'s weights are streamed (DropResidentLayers) and none were given");
      }
      packed = resident.data();
    }
    AttentionBlock(b, l, packed, x);
    MlpBlock(packed, x);
  }
  return Logits(chunks, x);
}

void LlamaModel::AttentionBlock(const Batch& b, int64_t l, const float* packed, std::vector<float>& x) {
  const ModelShape& s = config_.shape;
  const internal::LlamaWeights::View w = internal::LlamaWeights::ViewOf(packed, s);
  const int64_t n = b.size(), h = s.hidden_size, d = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t qd = s.heads * d, kvd = s.kv_heads * d, width = qd + 2 * kvd;
  std::vector<float> normed(x.size()), qkv(static_cast<size_t>(n * width)), attn(static_cast<size_t>(n * qd));
  for (int64_t t = 0; t < n; ++t) {
    internal::RmsNorm(&x[t * h], w.attn_norm, static_cast<float>(config_.rms_norm_eps), h, &normed[t * h]);
  }
  Matmul(*pool_, w.qkv, normed.data(), qkv.data(), h, width, n);
  const KvAddress at{block_tokens_, s.kv_heads, d};
  for (int64_t t = 0; t < n; ++t) {  // rotate q and k, then store k and v: attention reads them back
    float* row = &qkv[t * width];
    for (int64_t head = 0; head < s.heads + s.kv_heads; ++head) {
      internal::Rope(row + head * d, d, &b.cos[t * d / 2], &b.sin[t * d / 2]);
    }
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      ToBf16(row + qd + g * d, at(b.chunk[t]->kv, l, 0, b.pos[t], g), d);
      ToBf16(row + qd + kvd + g * d, at(b.chunk[t]->kv, l, 1, b.pos[t], g), d);
    }
  }
  int64_t macs = 0;  // of the attention, to size its pieces
  for (int64_t t = 0; t < n; ++t) macs += 2 * (b.pos[t] + 1) * qd;
  const int64_t tasks = n * s.kv_heads;
  const int64_t grain = std::max<int64_t>(1, internal::kMinPieceMacs / std::max<int64_t>(1, macs / tasks));
  pool_->ParallelFor(tasks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / s.kv_heads, g = i % s.kv_heads;
      AttendGroup(&qkv[t * width + g * group * d], b.chunk[t]->kv, at, l, b.pos[t], g, group,
                  &attn[t * qd + g * group * d]);
    }
  });
  Matmul(*pool_, w.o, attn.data(), normed.data(), qd, h, n);
  for (size_t i = 0; i < x.size(); ++i) x[i] += normed[i];
}

void LlamaModel::MlpBlock(const float* packed, std::vector<float>& x) {
  const ModelShape& s = config_.shape;
  const internal::LlamaWeights::View w = internal::LlamaWeights::ViewOf(packed, s);
  const int64_t h = s.hidden_size, m = s.intermediate_size, n = static_cast<int64_t>(x.size()) / h;
  std::vector<float> normed(x.size()), gate_up(static_cast<size_t>(n * 2 * m)),
      act(static_cast<size_t>(n * m));
  for (int64_t t = 0; t < n; ++t) {
    internal::RmsNorm(&x[t * h], w.mlp_norm, static_cast<float>(config_.rms_norm_eps), h, &normed[t * h]);
  }
  Matmul(*pool_, w.gate_up, normed.data(), gate_up.data(), h, 2 * m, n);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < m; ++i)
      act[t * m + i] = Silu(gate_up[t * 2 * m + i]) * gate_up[t * 2 * m + m + i];
  }
  Matmul(*pool_, w.down, act.data(), normed.data(), m, h, n);
  for (size_t i = 0; i < x.size(); ++i) x[i] += normed[i];
}

std::vector<std::vector<float>> LlamaModel::Logits(std::span<const SeqChunk> chunks,
                                                   const std::vector<float>& x) {
  const ModelShape& s = config_.shape;
  const int64_t h = s.hidden_size, v = s.vocab_size;
  std::vector<float> normed;
  int64_t end = 0;  // one past the chunk's last token in the batch
  for (const SeqChunk& c : chunks) {
    end += static_cast<int64_t>(c.tokens.size());
    if (!c.want_logits) continue;
    normed.resize(normed.size() + static_cast<size_t>(h));
    internal::RmsNorm(&x[(end - 1) * h], weights_->norm.data(), static_cast<float>(config_.rms_norm_eps), h,
                      &normed[normed.size() - static_cast<size_t>(h)]);
  }
  const int64_t rows = static_cast<int64_t>(normed.size()) / h;
  std::vector<float> logits(static_cast<size_t>(rows * v));
  Matmul(*pool_, weights_->head(), normed.data(), logits.data(), h, v, rows);
  std::vector<std::vector<float>> out(chunks.size());
  int64_t row = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].want_logits) continue;
    out[i].assign(logits.begin() + row * v, logits.begin() + (row + 1) * v);
    ++row;
  }
  return out;
}

}  // namespace lightloop::workloads

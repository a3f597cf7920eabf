// SPDX-License-Identifier: Apache-2.0
// The functional mode's Llama: logits against an independent numpy
// reference and a naive scalar one, bit-identical results across chunking, batching, threads and
// KV block addresses, the documented KV block layout, sampling, the kernels'
// spot values, and load errors that name the tensor or key.
#include "lightloop/workloads/llama.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <set>

#include "../src/llama_kernels.h"

namespace lightloop::workloads {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A shape with no dimension a multiple of 8, so every kernel's tail runs.
RandomModelSpec TinySpec() {
  return {.layers = 2,
          .hidden_size = 72,
          .heads = 6,
          .kv_heads = 2,
          .head_dim = 12,
          .intermediate_size = 100,
          .vocab_size = 300,
          .seed = 7};
}

fs::path TempDir(const std::string& name) {
  return fs::temp_directory_path() / ("ll-llama-" + std::to_string(::getpid()) + "-" + name);
}

// The KV blocks of one sequence, allocated in a shuffled order inside one
// buffer with gaps between them, and filled with garbage first.
class PagedKv {
 public:
  PagedKv(uint64_t block_bytes, size_t blocks, uint64_t seed)
      : storage_(blocks * (block_bytes + 64) + 64, 0xa5) {
    std::vector<size_t> slot(blocks);
    std::iota(slot.begin(), slot.end(), 0);
    for (size_t i = blocks; i > 1; --i) std::swap(slot[i - 1], slot[(seed * 2654435761u + i * 40503u) % i]);
    for (size_t b = 0; b < blocks; ++b)
      view_.blocks.push_back(storage_.data() + slot[b] * (block_bytes + 64) + 32);
  }
  const KvView& view() const { return view_; }

 private:
  std::vector<unsigned char> storage_;
  KvView view_;
};

std::vector<int32_t> Tokens(size_t n, int32_t vocab, uint64_t seed) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((seed * 7919 + i * i * 104729 + i * 31) % vocab);
  return t;
}

// Runs `tokens` in chunks of `chunk` tokens; returns the logits at the end
// of each chunk, keyed by position.
std::map<int64_t, std::vector<float>> RunChunked(LlamaModel& m, const std::vector<int32_t>& tokens,
                                                 size_t chunk, const KvView& kv) {
  std::map<int64_t, std::vector<float>> out;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    const size_t n = std::min(chunk, tokens.size() - start);
    SeqChunk c{
        .tokens = std::span(tokens).subspan(start, n), .start_pos = static_cast<int64_t>(start), .kv = kv};
    auto r = m.Forward({&c, 1});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    out[static_cast<int64_t>(start + n - 1)] = (*r)[0];
  }
  return out;
}

size_t BlocksFor(const LlamaModel& m, size_t tokens) {
  return (tokens + static_cast<size_t>(m.block_tokens()) - 1) / static_cast<size_t>(m.block_tokens());
}

class LlamaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(TempDir("tiny"));
    ASSERT_TRUE(WriteRandomModel(dir_->string(), TinySpec()).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::unique_ptr<LlamaModel> Load(int threads = 2, int64_t block_tokens = 4) {
    auto m = LlamaModel::Load(dir_->string(), {.block_tokens = block_tokens, .threads = threads});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  static fs::path* dir_;
};
fs::path* LlamaTest::dir_ = nullptr;

TEST_F(LlamaTest, ReadsTheConfigAndSizesTheBlocks) {
  auto m = Load(1, 16);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->config().shape.layers, 2);
  EXPECT_EQ(m->config().shape.kv_heads, 2);
  EXPECT_EQ(m->config().shape.head_dim, 12);
  EXPECT_DOUBLE_EQ(m->config().rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(m->config().rms_norm_eps, 1e-5);
  EXPECT_EQ(m->KvBlockBytes(), 2u * 2 * 16 * 2 * 12 * 2)
      << "K and V, layers, block_tokens, kv_heads, head_dim, bf16";
  EXPECT_EQ(m->threads(), 1);
  m->SetThreads(3);
  EXPECT_EQ(m->threads(), 3);
}

// The first Python with numpy: $LIGHTLOOP_PYTHON, python3 on the PATH (a
// pyenv shim may hide the system's), /usr/bin/python3. Empty when none.
std::string PythonWithNumpy() {
  std::vector<std::string> candidates = {"python3", "/usr/bin/python3"};
  if (const char* env = std::getenv("LIGHTLOOP_PYTHON")) candidates.insert(candidates.begin(), env);
  for (const std::string& python : candidates) {
    if (std::system((python + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0) return python;
  }
  return "";
}

// Runs tests/llama_reference.py on `dir`; empty when there is no numpy.
std::vector<double> NumpyReference(const fs::path& dir, const std::vector<int32_t>& tokens) {
  const std::string python = PythonWithNumpy();
  if (python.empty()) return {};
  std::string list;
  for (int32_t t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
  const fs::path out = dir / "reference.f64";
  const std::string cmd = python + " " + std::string(LIGHTLOOP_WORKLOADS_DIR) + "/tests/llama_reference.py " +
                          dir.string() + " " + list + " " + out.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out, std::ios::binary);
  std::vector<double> v((fs::exists(out) ? fs::file_size(out) : 0) / sizeof(double));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
  return v;
}

// A deliberately plain reference in double: one token at a time, K and V
// in contiguous vectors (rounded to bf16 like the cache), straight loops.
std::vector<double> NaiveReference(const fs::path& dir, const std::vector<int32_t>& tokens) {
  auto config = ReadLlamaConfig((dir / "config.json").string());
  auto weights = ReadSafetensorsDir(dir.string());
  if (!config.ok() || !weights.ok()) return {};
  const ModelShape& s = config->shape;
  const int64_t h = s.hidden_size, d = s.head_dim, heads = s.heads, kv_heads = s.kv_heads;
  const double eps = config->rms_norm_eps;
  auto w = [&](const std::string& name) -> const std::vector<float>& { return weights->at(name).data; };
  auto linear = [](const std::vector<float>& m, const std::vector<double>& x, size_t out) {
    std::vector<double> y(out, 0.0);
    for (size_t o = 0; o < out; ++o) {
      for (size_t i = 0; i < x.size(); ++i) y[o] += m[o * x.size() + i] * x[i];
    }
    return y;
  };
  auto norm = [&](const std::vector<double>& x, const std::vector<float>& g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = g[i] * x[i] / std::sqrt(ss / x.size() + eps);
    return y;
  };
  auto rope = [&](std::vector<double>& v, int64_t n_heads, int64_t pos) {
    for (int64_t hd = 0; hd < n_heads; ++hd) {
      for (int64_t i = 0; i < d / 2; ++i) {
        const double a = pos * std::pow(config->rope_theta, -2.0 * i / d);
        const double x = v[hd * d + i], y = v[hd * d + i + d / 2];
        v[hd * d + i] = x * std::cos(a) - y * std::sin(a);
        v[hd * d + i + d / 2] = y * std::cos(a) + x * std::sin(a);
      }
    }
  };
  auto bf16 = [](std::vector<double> v) {
    for (double& x : v) x = Bf16ToFloat(FloatToBf16(static_cast<float>(x)));
    return v;
  };
  std::vector<std::vector<std::vector<double>>> keys(s.layers),
      values(s.layers);  // [layer][pos][kv_heads * d]
  std::vector<double> out;
  for (size_t p = 0; p < tokens.size(); ++p) {
    const float* e = &w("model.embed_tokens.weight")[tokens[p] * h];
    std::vector<double> x(e, e + h);
    for (int64_t l = 0; l < s.layers; ++l) {
      const std::string pre = "model.layers." + std::to_string(l) + ".";
      const std::vector<double> a = norm(x, w(pre + "input_layernorm.weight"));
      std::vector<double> q = linear(w(pre + "self_attn.q_proj.weight"), a, heads * d);
      std::vector<double> k = linear(w(pre + "self_attn.k_proj.weight"), a, kv_heads * d);
      rope(q, heads, static_cast<int64_t>(p));
      rope(k, kv_heads, static_cast<int64_t>(p));
      keys[l].push_back(bf16(k));
      values[l].push_back(bf16(linear(w(pre + "self_attn.v_proj.weight"), a, kv_heads * d)));
      std::vector<double> attn(heads * d, 0.0);
      for (int64_t hd = 0; hd < heads; ++hd) {
        const int64_t g = hd / (heads / kv_heads);
        std::vector<double> score(p + 1, 0.0);
        for (size_t j = 0; j <= p; ++j) {
          for (int64_t i = 0; i < d; ++i) score[j] += q[hd * d + i] * keys[l][j][g * d + i];
          score[j] /= std::sqrt(static_cast<double>(d));
        }
        const double max = *std::max_element(score.begin(), score.end());
        double total = 0;
        for (double& sc : score) total += (sc = std::exp(sc - max));
        for (size_t j = 0; j <= p; ++j) {
          for (int64_t i = 0; i < d; ++i) attn[hd * d + i] += score[j] / total * values[l][j][g * d + i];
        }
      }
      const std::vector<double> o = linear(w(pre + "self_attn.o_proj.weight"), attn, h);
      for (int64_t i = 0; i < h; ++i) x[i] += o[i];
      const std::vector<double> b = norm(x, w(pre + "post_attention_layernorm.weight"));
      const std::vector<double> gate = linear(w(pre + "mlp.gate_proj.weight"), b, s.intermediate_size);
      std::vector<double> act = linear(w(pre + "mlp.up_proj.weight"), b, s.intermediate_size);
      for (size_t i = 0; i < act.size(); ++i) act[i] *= gate[i] / (1.0 + std::exp(-gate[i]));
      const std::vector<double> down = linear(w(pre + "mlp.down_proj.weight"), act, h);
      for (int64_t i = 0; i < h; ++i) x[i] += down[i];
    }
    const std::string head = s.tied_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    const std::vector<double> logits = linear(w(head), norm(x, w("model.norm.weight")), s.vocab_size);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

using Reference = std::function<std::vector<double>(const fs::path&, const std::vector<int32_t>&)>;

// Every position's logits, one token at a time, against a reference.
void ExpectMatchesReference(const fs::path& dir, int64_t block_tokens, size_t n_tokens,
                            const Reference& reference, const std::string& name) {
  auto m = LlamaModel::Load(dir.string(), {.block_tokens = block_tokens, .threads = 2});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const int64_t vocab = (*m)->config().shape.vocab_size;
  const std::vector<int32_t> tokens = Tokens(n_tokens, static_cast<int32_t>(vocab), 3);
  const std::vector<double> ref = reference(dir, tokens);
  if (ref.empty()) GTEST_SKIP() << "python3 with numpy is not installed (scripts/install-deps.sh)";
  ASSERT_EQ(ref.size(), tokens.size() * static_cast<size_t>(vocab));
  PagedKv kv((*m)->KvBlockBytes(), (tokens.size() + block_tokens - 1) / block_tokens, 5);
  auto got = RunChunked(**m, tokens, 1, kv.view());
  double worst = 0, scale = 0;
  for (size_t p = 0; p < tokens.size(); ++p) {
    for (int64_t i = 0; i < vocab; ++i) {
      const double r = ref[p * vocab + i];
      scale = std::max(scale, std::abs(r));
      worst = std::max(worst, std::abs(got[static_cast<int64_t>(p)][i] - r));
    }
    EXPECT_EQ(
        Greedy(got[static_cast<int64_t>(p)]),
        std::max_element(ref.begin() + p * vocab, ref.begin() + (p + 1) * vocab) - (ref.begin() + p * vocab))
        << "position " << p;
  }
  EXPECT_GT(scale, 1.0) << "logits of order one";
  EXPECT_LT(worst, 1e-3 * scale) << "largest logit difference, against the largest logit " << scale;
  ::testing::Test::RecordProperty(name + "_max_abs_diff", std::to_string(worst));
  ::testing::Test::RecordProperty(name + "_largest_logit", std::to_string(scale));
}

TEST_F(LlamaTest, MatchesTheNumpyReference) {
  ExpectMatchesReference(*dir_, 4, 40, NumpyReference, "numpy");
}

TEST_F(LlamaTest, MatchesANaiveScalarReference) {
  ExpectMatchesReference(*dir_, 3, 30, NaiveReference, "naive");
}

TEST_F(LlamaTest, MatchesBothReferencesTiedF32WithTheDefaultShape) {
  const fs::path dir = TempDir("tied");
  RandomModelSpec spec{.vocab_size = 512, .tie_word_embeddings = true, .dtype = Dtype::kF32, .seed = 11};
  ASSERT_TRUE(WriteRandomModel(dir.string(), spec).ok());
  ExpectMatchesReference(dir, 16, 24, NaiveReference, "naive");
  ExpectMatchesReference(dir, 16, 24, NumpyReference, "numpy");
  fs::remove_all(dir);
}

TEST_F(LlamaTest, ChunkingChangesNoBit) {
  auto m = Load();
  const std::vector<int32_t> tokens = Tokens(37, 300, 1);
  std::map<int64_t, std::vector<float>> by_size[4];
  const size_t sizes[4] = {tokens.size(), 3, 1, 8};
  for (int i = 0; i < 4; ++i) {
    PagedKv kv(m->KvBlockBytes(), BlocksFor(*m, tokens.size()), i);
    by_size[i] = RunChunked(*m, tokens, sizes[i], kv.view());
  }
  EXPECT_EQ(by_size[0].at(36), by_size[1].at(36));
  EXPECT_EQ(by_size[0].at(36), by_size[2].at(36));
  EXPECT_EQ(by_size[0].at(36), by_size[3].at(36));
  for (const auto& [pos, logits] : by_size[1]) EXPECT_EQ(logits, by_size[2].at(pos)) << "position " << pos;
  for (const auto& [pos, logits] : by_size[3]) EXPECT_EQ(logits, by_size[2].at(pos)) << "position " << pos;
}

TEST_F(LlamaTest, ThreadCountChangesNoBit) {
  const std::vector<int32_t> tokens = Tokens(21, 300, 2);
  std::vector<std::map<int64_t, std::vector<float>>> runs;
  for (int threads : {1, 2, 3}) {
    auto m = Load(threads);
    PagedKv kv(m->KvBlockBytes(), BlocksFor(*m, tokens.size()), 9);
    runs.push_back(RunChunked(*m, tokens, 5, kv.view()));
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

TEST_F(LlamaTest, BatchingChangesNoBit) {
  auto m = Load();
  const std::vector<int32_t> a = Tokens(19, 300, 4), b = Tokens(11, 300, 5), c = Tokens(6, 300, 6);
  PagedKv alone(m->KvBlockBytes(), BlocksFor(*m, a.size()), 1);
  const auto a_alone = RunChunked(*m, a, 1, alone.view());
  // a decodes one token at a time while b prefills in one chunk and c in two,
  // all in the same calls.
  PagedKv ka(m->KvBlockBytes(), BlocksFor(*m, a.size()), 2),
      kb(m->KvBlockBytes(), BlocksFor(*m, b.size()), 3), kc(m->KvBlockBytes(), BlocksFor(*m, c.size()), 4);
  std::map<int64_t, std::vector<float>> a_batched;
  for (size_t p = 0; p < a.size(); ++p) {
    std::vector<SeqChunk> chunks{
        {.tokens = std::span(a).subspan(p, 1), .start_pos = int64_t(p), .kv = ka.view()}};
    if (p == 3) chunks.push_back({.tokens = b, .start_pos = 0, .kv = kb.view()});
    if (p == 5 || p == 6) {
      chunks.push_back({.tokens = std::span(c).subspan((p - 5) * 3, 3),
                        .start_pos = int64_t(p - 5) * 3,
                        .kv = kc.view(),
                        .want_logits = p == 6});
    }
    auto r = m->Forward(chunks);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    a_batched[static_cast<int64_t>(p)] = (*r)[0];
    if (p == 5) {
      EXPECT_TRUE((*r)[1].empty()) << "want_logits = false";
    }
    if (p == 6) {
      PagedKv kc_alone(m->KvBlockBytes(), BlocksFor(*m, c.size()), 8);
      EXPECT_EQ((*r)[1], RunChunked(*m, c, c.size(), kc_alone.view()).at(5));
    }
    if (p == 3) {
      PagedKv kb_alone(m->KvBlockBytes(), BlocksFor(*m, b.size()), 7);
      EXPECT_EQ((*r)[1], RunChunked(*m, b, 1, kb_alone.view()).at(10));
    }
  }
  EXPECT_EQ(a_batched, a_alone);
}

TEST_F(LlamaTest, KvBlocksHoldTheDocumentedLayout) {
  auto m = Load(2, 4);
  const std::vector<int32_t> tokens = Tokens(10, 300, 8);
  PagedKv kv(m->KvBlockBytes(), BlocksFor(*m, tokens.size()), 3);
  RunChunked(*m, tokens, tokens.size(), kv.view());
  auto w = ReadSafetensorsDir(dir_->string());
  ASSERT_TRUE(w.ok());
  const int64_t h = 72, d = 12, kv_heads = 2, bt = 4;
  const Tensor& embed = w->at("model.embed_tokens.weight");
  const Tensor& norm = w->at("model.layers.0.input_layernorm.weight");
  const Tensor& wk = w->at("model.layers.0.self_attn.k_proj.weight");
  const Tensor& wv = w->at("model.layers.0.self_attn.v_proj.weight");
  for (int64_t p = 0; p < 10; ++p) {
    // Layer 0's K and V depend on the token alone: compute them naively.
    const float* x = &embed.data[tokens[p] * h];
    double ss = 0;
    for (int64_t i = 0; i < h; ++i) ss += double(x[i]) * x[i];
    const double inv = 1.0 / std::sqrt(ss / h + 1e-5);
    for (int64_t g = 0; g < kv_heads; ++g) {
      std::vector<double> k(d), v(d);
      for (int64_t e = 0; e < d; ++e) {
        for (int64_t i = 0; i < h; ++i) {
          k[e] += wk.data[(g * d + e) * h + i] * norm.data[i] * x[i] * inv;
          v[e] += wv.data[(g * d + e) * h + i] * norm.data[i] * x[i] * inv;
        }
      }
      const unsigned char* block = kv.view().blocks[p / bt];
      const auto* k_row = reinterpret_cast<const uint16_t*>(block) + ((0 * bt + p % bt) * kv_heads + g) * d;
      const auto* v_row = reinterpret_cast<const uint16_t*>(block) + ((1 * bt + p % bt) * kv_heads + g) * d;
      for (int64_t e = 0; e < d / 2; ++e) {
        const double angle = p * std::pow(10000.0, -2.0 * e / d);
        const double k0 = k[e] * std::cos(angle) - k[e + d / 2] * std::sin(angle);
        const double k1 = k[e + d / 2] * std::cos(angle) + k[e] * std::sin(angle);
        EXPECT_NEAR(Bf16ToFloat(k_row[e]), k0, 1e-2 * std::abs(k0) + 1e-4) << "K p=" << p << " g=" << g;
        EXPECT_NEAR(Bf16ToFloat(k_row[e + d / 2]), k1, 1e-2 * std::abs(k1) + 1e-4);
      }
      for (int64_t e = 0; e < d; ++e) {
        EXPECT_NEAR(Bf16ToFloat(v_row[e]), v[e], 1e-2 * std::abs(v[e]) + 1e-4) << "V p=" << p << " g=" << g;
      }
    }
  }
}

TEST_F(LlamaTest, ForwardRefusesBadChunks) {
  auto m = Load();
  std::vector<unsigned char> block(m->KvBlockBytes());
  const std::vector<int32_t> five = {1, 2, 3, 4, 5}, bad = {1, 300};
  auto error_of = [&](SeqChunk c) {
    auto r = m->Forward({&c, 1});
    return r.ok() ? std::string("no error") : r.status().ToString();
  };
  EXPECT_THAT(error_of({.tokens = five, .start_pos = 0, .kv = {{block.data()}}}),
              HasSubstr("chunk 0: 1 KV blocks do not cover position 4"));
  EXPECT_THAT(error_of({.tokens = bad, .start_pos = 0, .kv = {{block.data()}}}),
              HasSubstr("chunk 0: token 300 outside the vocabulary of 300"));
  EXPECT_THAT(error_of({.tokens = {}, .start_pos = 0, .kv = {{block.data()}}}),
              HasSubstr("chunk 0 has no tokens"));
  EXPECT_THAT(error_of({.tokens = five, .start_pos = 0, .kv = {{nullptr, block.data()}}}),
              HasSubstr("KV block 0 is null"));
}

// Layer weights handed to Forward by its hook (streamed) instead of the
// model's own: each layer travels as one piece, bf16 when the checkpoint is
// bf16 (half the bytes, nothing lost) and float32 otherwise, and the
// logits are the resident model's to the bit. Without its own layers and
// with none given, Forward names the layer.
TEST(StreamedLayers, GiveTheResidentLogitsInTheCheckpointsPrecision) {
  for (Dtype dtype : {Dtype::kBF16, Dtype::kF32}) {
    SCOPED_TRACE(DtypeName(dtype));
    const fs::path dir = TempDir(std::string("streamed-") + DtypeName(dtype));
    RandomModelSpec spec = TinySpec();
    spec.dtype = dtype;
    ASSERT_TRUE(WriteRandomModel(dir.string(), spec).ok());
    auto resident = LlamaModel::Load(dir.string(), {.block_tokens = 4, .threads = 2});
    auto streamed = LlamaModel::Load(dir.string(), {.block_tokens = 4, .threads = 2});
    ASSERT_TRUE(resident.ok() && streamed.ok());
    const int64_t h = spec.hidden_size, q = spec.heads * spec.head_dim, kv = spec.kv_heads * spec.head_dim,
                  m = spec.intermediate_size;
    const uint64_t floats = static_cast<uint64_t>(2 * h + (q + 2 * kv) * h + h * q + 3 * m * h);
    EXPECT_EQ((*streamed)->LayerWeightsAreBf16(), dtype == Dtype::kBF16);
    EXPECT_EQ((*streamed)->LayerWeightBytes(), floats * (dtype == Dtype::kBF16 ? 2 : 4));
    const uint64_t lb = (*streamed)->LayerWeightBytes();
    std::vector<std::vector<unsigned char>> layers(static_cast<size_t>(spec.layers),
                                                   std::vector<unsigned char>(lb));
    for (int64_t l = 0; l < spec.layers; ++l) {
      ASSERT_TRUE((*streamed)->CopyLayerWeights(l, layers[static_cast<size_t>(l)].data()).ok());
    }
    EXPECT_FALSE((*streamed)->CopyLayerWeights(spec.layers, layers[0].data()).ok());
    (*streamed)->DropResidentLayers();
    EXPECT_FALSE((*streamed)->CopyLayerWeights(0, layers[0].data()).ok()) << "dropped";

    const std::vector<int32_t> tokens = Tokens(9, static_cast<int32_t>(spec.vocab_size), 5);
    PagedKv kv_a((*resident)->KvBlockBytes(), 3, 1), kv_b((*streamed)->KvBlockBytes(), 3, 2);
    SeqChunk a{.tokens = tokens, .start_pos = 0, .kv = kv_a.view()};
    SeqChunk b{.tokens = tokens, .start_pos = 0, .kv = kv_b.view()};
    auto want = (*resident)->Forward({&a, 1});
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    std::vector<int64_t> asked;
    auto got = (*streamed)->Forward({&b, 1}, [&](int64_t l) -> runtime::StatusOr<const void*> {
      asked.push_back(l);
      return layers[static_cast<size_t>(l)].data();
    });
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(asked, (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(*got, *want);
    auto none = (*streamed)->Forward({&b, 1});
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().ToString().find("layer 0"), std::string::npos) << none.status().ToString();
    fs::remove_all(dir);
  }
}

TEST(Sampling, GreedyTakesTheLowestIndexOnTies) {
  EXPECT_EQ(Greedy(std::vector<float>{0.5f, 2.0f, -1.0f, 2.0f}), 1);
  EXPECT_EQ(Greedy(std::vector<float>{-3.0f}), 0);
}

TEST(Sampling, SeededSamplingIsReproducibleAndFollowsTheSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(3.0f), -50.0f, 1.0f - 1e9f};
  auto draw = [&](uint64_t seed, float temperature, int top_k) {
    std::vector<int32_t> out;
    for (int i = 0; i < 4000; ++i) out.push_back(Sample(logits, temperature, top_k, seed));
    return out;
  };
  const std::vector<int32_t> a = draw(42, 1.0f, 0);
  EXPECT_EQ(a, draw(42, 1.0f, 0));
  EXPECT_NE(a, draw(43, 1.0f, 0));
  const double ones = static_cast<double>(std::count(a.begin(), a.end(), 1)) / a.size();
  EXPECT_NEAR(ones, 0.75, 0.03) << "softmax(0, log 3) = (0.25, 0.75)";
  EXPECT_EQ(std::count(a.begin(), a.end(), 3), 0);
  const std::vector<int32_t> top1 = draw(42, 1.0f, 1);
  EXPECT_EQ(std::count(top1.begin(), top1.end(), 1), 4000) << "top_k 1 is greedy";
  const std::vector<int32_t> cold = draw(42, 0.0f, 0);
  EXPECT_EQ(std::count(cold.begin(), cold.end(), 1), 4000) << "temperature 0 is greedy";
  const std::vector<int32_t> hot = draw(42, 100.0f, 2);
  EXPECT_NEAR(static_cast<double>(std::count(hot.begin(), hot.end(), 0)) / 4000, 0.5, 0.03);
  uint64_t s1 = 7, s2 = 7;
  EXPECT_EQ(Sample(logits, 1.0f, 0, s1), Sample(logits, 1.0f, 0, s2));
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, 7u) << "the state advances";
}

TEST(RandomModel, GreedyDecodingIsVariedAndSeeded) {
  const fs::path dir = TempDir("default");
  ASSERT_TRUE(WriteRandomModel(dir.string()).ok());  // the default small model, bf16
  auto m = LlamaModel::Load(dir.string(), {.block_tokens = 16, .threads = 2});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->config().shape.parameters(), 4u * 692736 + 2 * 4096 * 256 + 256);
  std::set<std::vector<int32_t>> continuations;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    std::vector<int32_t> seq = Tokens(8, 4096, seed);
    PagedKv kv((*m)->KvBlockBytes(), 4, seed);
    std::vector<float> logits = RunChunked(**m, seq, seq.size(), kv.view()).at(7);
    for (int i = 0; i < 32; ++i) {
      seq.push_back(Greedy(logits));
      SeqChunk c{.tokens = std::span(seq).last(1),
                 .start_pos = static_cast<int64_t>(seq.size()) - 1,
                 .kv = kv.view()};
      logits = std::move((*(*m)->Forward({&c, 1}))[0]);
    }
    std::vector<int32_t> generated(seq.begin() + 8, seq.end());
    EXPECT_GE(std::set<int32_t>(generated.begin(), generated.end()).size(), 8u) << "seed " << seed;
    EXPECT_FALSE(generated[0] == generated[1] && generated[1] == generated[2]) << "locked into one token";
    continuations.insert(generated);
  }
  EXPECT_EQ(continuations.size(), 3u);
  const fs::path again = TempDir("default-again");
  ASSERT_TRUE(WriteRandomModel(again.string()).ok());
  std::ifstream f1(dir / "model.safetensors", std::ios::binary),
      f2(again / "model.safetensors", std::ios::binary);
  EXPECT_TRUE(std::equal(std::istreambuf_iterator<char>(f1), {}, std::istreambuf_iterator<char>(f2), {}))
      << "same seed, same bytes";
  fs::remove_all(dir);
  fs::remove_all(again);
}

TEST(Kernels, SpotValues) {
  const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
  float out[2];
  internal::RmsNorm(x, w, 0.0f, 2, out);
  EXPECT_FLOAT_EQ(out[0], 3.0f / std::sqrt(12.5f));
  EXPECT_FLOAT_EQ(out[1], 8.0f / std::sqrt(12.5f));
  float cos[2], sin[2];
  internal::RopeAngles(1, 4, 10000.0, cos, sin);  // angles 1 and 1/100
  EXPECT_FLOAT_EQ(cos[0], std::cos(1.0f));
  EXPECT_FLOAT_EQ(sin[1], std::sin(0.01f));
  float v[4] = {1.0f, 2.0f, 0.0f, 0.0f};  // pairs (0, 2) and (1, 3)
  internal::Rope(v, 4, cos, sin);
  EXPECT_FLOAT_EQ(v[0], std::cos(1.0f));
  EXPECT_FLOAT_EQ(v[2], std::sin(1.0f));
  EXPECT_FLOAT_EQ(v[1], 2.0f * std::cos(0.01f));
  EXPECT_FLOAT_EQ(v[3], 2.0f * std::sin(0.01f));
  internal::RopeAngles(0, 4, 10000.0, cos, sin);
  EXPECT_EQ(cos[0], 1.0f);
  EXPECT_EQ(sin[1], 0.0f) << "position 0 is the identity";
}

TEST(Kernels, DotSumsInItsDocumentedOrder) {
  std::vector<float> a(19), b(19);
  for (int i = 0; i < 19; ++i) {
    a[i] = std::ldexp(1.0f + i / 7.0f, (i * 5) % 23 - 11);
    b[i] = (i % 2 ? -1.0f : 1.0f) * (1.0f + i / 3.0f);
  }
  float lane[8] = {};
  for (int i = 0; i < 19; ++i) lane[i % 8] += a[i] * b[i];
  const float want =
      ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  EXPECT_EQ(internal::Dot(a.data(), b.data(), 19), want);
  internal::ThreadPool pool(2);
  std::vector<float> y(3);  // the same order inside Matmul: rows a, b, a against token b
  std::vector<float> w(a);
  w.insert(w.end(), b.begin(), b.end());
  w.insert(w.end(), a.begin(), a.end());
  internal::Matmul(pool, w.data(), b.data(), y.data(), 19, 3, 1);
  EXPECT_EQ(y[0], want);
  EXPECT_EQ(y[2], want);
}

class LlamaLoadErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("errors");
    ASSERT_TRUE(WriteRandomModel(dir_.string(), TinySpec()).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string ErrorOf() {
    auto m = LlamaModel::Load(dir_.string());
    return m.ok() ? std::string("no error") : m.status().ToString();
  }
  void EditWeights(const std::function<void(TensorMap&)>& edit) {
    auto w = ReadSafetensorsDir(dir_.string());
    ASSERT_TRUE(w.ok());
    edit(*w);
    ASSERT_TRUE(WriteSafetensors((dir_ / "model.safetensors").string(), *w).ok());
  }
  void EditConfig(const std::string& from, const std::string& to) {
    std::ifstream in(dir_ / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    std::ofstream(dir_ / "config.json") << text.replace(at, from.size(), to);
  }
  fs::path dir_;
};

TEST_F(LlamaLoadErrors, MissingTensorNamesItAndItsShape) {
  EditWeights([](TensorMap& w) { w.erase("model.layers.1.mlp.up_proj.weight"); });
  EXPECT_THAT(ErrorOf(),
              HasSubstr("tensor 'model.layers.1.mlp.up_proj.weight' is missing (expected shape [100, 72])"));
}

TEST_F(LlamaLoadErrors, WrongShapeNamesBoth) {
  EditWeights([](TensorMap& w) { w["model.layers.0.self_attn.k_proj.weight"].shape = {72, 24}; });
  EXPECT_THAT(
      ErrorOf(),
      HasSubstr("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [72, 24], expected [24, 72]"));
}

TEST_F(LlamaLoadErrors, UntiedModelNeedsLmHead) {
  EditWeights([](TensorMap& w) { w.erase("lm_head.weight"); });
  EXPECT_THAT(ErrorOf(), HasSubstr("tensor 'lm_head.weight' is missing (expected shape [300, 72])"));
  EditConfig("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
  EXPECT_EQ(ErrorOf(), "no error") << "tied: lm_head is the embedding";
}

TEST_F(LlamaLoadErrors, MixtureOfExpertsIsRefusedByKey) {
  EditConfig("\"num_hidden_layers\"",
             "\"num_local_experts\": 8, \"num_experts_per_tok\": 2, \"num_hidden_layers\"");
  EXPECT_THAT(ErrorOf(), HasSubstr("config.json: key 'num_local_experts' = 8: mixture-of-experts models"));
}

TEST_F(LlamaLoadErrors, RopeScalingAndBadNumbersAreRefused) {
  EditConfig("\"rope_theta\": 10000.0", "\"rope_theta\": -1");
  EXPECT_THAT(ErrorOf(), HasSubstr("config.json: key 'rope_theta' must be a positive number"));
  EditConfig("\"rope_theta\": -1", "\"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\"}");
  EXPECT_THAT(ErrorOf(), HasSubstr("config.json: key 'rope_scaling' is not supported"));
}

}  // namespace
}  // namespace lightloop::workloads

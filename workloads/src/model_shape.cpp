// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/model_shape.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;

}  // namespace

uint64_t ModelShape::layer_parameters() const {
  const auto h = static_cast<uint64_t>(hidden_size), hd = static_cast<uint64_t>(head_dim);
  uint64_t attention = h * static_cast<uint64_t>(heads) * hd           // q
                       + 2 * h * static_cast<uint64_t>(kv_heads) * hd  // k, v
                       + static_cast<uint64_t>(heads) * hd * h;        // o
  uint64_t mlp = 3 * h * static_cast<uint64_t>(intermediate_size);     // gate, up, down (SwiGLU)
  uint64_t router = experts > 1 ? h * static_cast<uint64_t>(experts) : 0;
  return attention + mlp * static_cast<uint64_t>(experts) + router + 2 * h;  // two RMSNorms
}

uint64_t ModelShape::parameters() const {
  const auto h = static_cast<uint64_t>(hidden_size), v = static_cast<uint64_t>(vocab_size);
  return static_cast<uint64_t>(layers) * layer_parameters() + v * h * (tied_embeddings ? 1 : 2) + h;
}

uint64_t ModelShape::active_parameters() const {
  const auto h = static_cast<uint64_t>(hidden_size);
  uint64_t idle_experts =
      3 * h * static_cast<uint64_t>(intermediate_size) * static_cast<uint64_t>(experts - experts_per_token);
  return parameters() - static_cast<uint64_t>(layers) * idle_experts;
}

rt::StatusOr<ModelShape> ReadModelShape(const std::string& path) {
  std::ifstream in(path);
  if (!in) return rt::NotFound(path + ": cannot open the model config");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return rt::InvalidArgument(path + ": not a JSON object");
  auto integer = [&](const char* key, bool required, int64_t fallback) -> rt::StatusOr<int64_t> {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) return rt::InvalidArgument(path + ": key '" + key + "' is missing");
      return fallback;
    }
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0) {
      return rt::InvalidArgument(path + ": key '" + key + "' must be a positive integer");
    }
    return j[key].get<int64_t>();
  };
  ModelShape m;
  m.name = j.value("_name_or_path", std::filesystem::path(path).stem().string());
  LL_ASSIGN_OR_RETURN(m.hidden_size, integer("hidden_size", true, 0));
  LL_ASSIGN_OR_RETURN(m.layers, integer("num_hidden_layers", true, 0));
  LL_ASSIGN_OR_RETURN(m.heads, integer("num_attention_heads", true, 0));
  LL_ASSIGN_OR_RETURN(m.kv_heads, integer("num_key_value_heads", false, m.heads));
  LL_ASSIGN_OR_RETURN(m.head_dim, integer("head_dim", false, m.hidden_size / m.heads));
  LL_ASSIGN_OR_RETURN(m.intermediate_size, integer("intermediate_size", true, 0));
  LL_ASSIGN_OR_RETURN(m.vocab_size, integer("vocab_size", true, 0));
  LL_ASSIGN_OR_RETURN(m.experts, integer("num_local_experts", false, 1));
  LL_ASSIGN_OR_RETURN(m.experts_per_token, integer("num_experts_per_tok", false, 1));
  if (m.heads % m.kv_heads != 0) {
    return rt::InvalidArgument(path + ": key 'num_key_value_heads' must divide num_attention_heads");
  }
  if (m.experts_per_token > m.experts) {
    return rt::InvalidArgument(path + ": key 'num_experts_per_tok' exceeds num_local_experts");
  }
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean()) {
      return rt::InvalidArgument(path + ": key 'tie_word_embeddings' must be true or false");
    }
    m.tied_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  std::string dtype = j.value("torch_dtype", "bfloat16");
  if (dtype == "bfloat16" || dtype == "float16") {
    m.dtype_bytes = 2;
  } else if (dtype == "float32") {
    m.dtype_bytes = 4;
  } else {
    return rt::InvalidArgument(path + ": key 'torch_dtype': '" + dtype +
                               "' is not bfloat16, float16 or float32");
  }
  return m;
}

}  // namespace lightloop::workloads

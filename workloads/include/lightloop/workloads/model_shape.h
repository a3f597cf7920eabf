// SPDX-License-Identifier: Apache-2.0
// The shape of a transformer model, read from a Hugging Face-style
// config.json (hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, head_dim, intermediate_size, vocab_size,
// torch_dtype, num_local_experts, num_experts_per_tok, tie_word_embeddings).
// Other keys are ignored: real config.json files carry many. Presets live in
// workloads/models/ with their sources.
//
//   LL_ASSIGN_OR_RETURN(ModelShape m, ReadModelShape("workloads/models/llama-3-8b.json"));
//   uint64_t kv = m.kv_bytes_per_token();   // 131072 for Llama-3-8B in bf16
#pragma once

#include <cstdint>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::workloads {

struct ModelShape {
  std::string name;
  int64_t hidden_size = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;  // hidden_size / heads unless given
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t dtype_bytes = 2;
  int64_t experts = 1;            // MoE: experts per layer...
  int64_t experts_per_token = 1;  // ...and how many a token uses
  bool tied_embeddings = false;

  // K and V of every layer for one token.
  uint64_t kv_bytes_per_token() const {
    return 2ull * static_cast<uint64_t>(layers * kv_heads * head_dim * dtype_bytes);
  }
  // Parameters of one decoder layer (attention, every expert's MLP, router, norms).
  uint64_t layer_parameters() const;
  uint64_t parameters() const;  // the whole model
  // Parameters one token's forward pass touches (experts_per_token experts).
  uint64_t active_parameters() const;
  uint64_t layer_weight_bytes() const { return layer_parameters() * static_cast<uint64_t>(dtype_bytes); }
};

// Errors name the file and the key.
runtime::StatusOr<ModelShape> ReadModelShape(const std::string& path);

}  // namespace lightloop::workloads

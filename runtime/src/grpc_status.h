// SPDX-License-Identifier: Apache-2.0
// Status <-> grpc::Status, one to one (the codes share their numbers).
#pragma once

#include <grpcpp/support/status.h>

#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

// `rpc` and `peer` name the call and the memnode in the message.
inline Status FromGrpc(const grpc::Status& s, const std::string& rpc, const std::string& peer) {
  if (s.ok()) return Status::Ok();
  auto code = static_cast<StatusCode>(s.error_code());
  if (s.error_code() > grpc::StatusCode::UNAUTHENTICATED) code = StatusCode::kUnknown;
  std::string text = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    text = "memnode " + peer + " did not answer (" + text + ")";
  }
  return Status(code, rpc + ": " + text);
}

}  // namespace lightloop::runtime

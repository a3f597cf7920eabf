// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/status.h"

#include <rdma/fabric.h>
#include <rdma/fi_errno.h>

namespace lightloop::runtime {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "CANCELLED";
    case StatusCode::kUnknown: return "UNKNOWN";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDataLoss: return "DATA_LOSS";
    case StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

namespace {

StatusCode CodeForFabricErrno(int err) {
  switch (err) {
    case FI_EAGAIN: return StatusCode::kUnavailable;
    case FI_ENOENT:
    case FI_ENODATA: return StatusCode::kNotFound;
    case FI_EACCES:
    case FI_EPERM:
    case FI_EKEYREJECTED: return StatusCode::kPermissionDenied;
    case FI_EINVAL:
    case FI_EBADFLAGS:
    case FI_ENOKEY: return StatusCode::kInvalidArgument;
    case FI_ENOMEM:
    case FI_ENOSPC:
    case FI_ETOOSMALL: return StatusCode::kResourceExhausted;
    case FI_ETIMEDOUT: return StatusCode::kDeadlineExceeded;
    case FI_ECONNREFUSED:
    case FI_ECONNRESET:
    case FI_ECONNABORTED:
    case FI_ENOTCONN:
    case FI_EHOSTUNREACH:
    case FI_ESHUTDOWN:
    case FI_EIO: return StatusCode::kUnavailable;
    case FI_ENOSYS:
    case FI_EOPNOTSUPP: return StatusCode::kUnimplemented;
    case FI_ECANCELED: return StatusCode::kCancelled;
    case FI_ETRUNC:
    case FI_EOVERRUN: return StatusCode::kDataLoss;
    default: return StatusCode::kInternal;
  }
}

}  // namespace

Status Status::FromFabric(int ret, std::string_view call) {
  int err = ret < 0 ? -ret : ret;
  Status s(CodeForFabricErrno(err),
           std::string(call) + ": " + fi_strerror(err) + " (fi_errno " + std::to_string(err) + ")");
  s.fi_errno_ = err;
  return s;
}

Status Status::FromCompletionError(int err, std::string_view call, std::string_view detail) {
  Status s = FromFabric(err, call);
  if (!detail.empty()) s.message_ += " [" + std::string(detail) + "]";
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::string(context) + ": " + message_;
  return s;
}

}  // namespace lightloop::runtime

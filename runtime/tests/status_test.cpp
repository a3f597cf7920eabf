// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/status.h"

#include <gtest/gtest.h>
#include <rdma/fi_errno.h>

namespace lightloop::runtime {
namespace {

TEST(StatusTest, FabricErrorKeepsCallAndText) {
  Status s = Status::FromFabric(-FI_EACCES, "fi_mr_reg");
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.fi_errno(), FI_EACCES);
  EXPECT_NE(s.message().find("fi_mr_reg"), std::string::npos);
  EXPECT_NE(s.message().find(fi_strerror(FI_EACCES)), std::string::npos);
  EXPECT_EQ(s.ToString().rfind("PERMISSION_DENIED: ", 0), 0u);
}

TEST(StatusTest, FabricCodesMapToStatusCodes) {
  EXPECT_EQ(Status::FromFabric(-FI_ENODATA, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromFabric(-FI_ENOMEM, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::FromFabric(-FI_ECONNRESET, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(Status::FromFabric(-FI_ETIMEDOUT, "x").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Status::FromFabric(-FI_ENOSYS, "x").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(Status::FromFabric(-FI_EKEYREJECTED, "x").code(), StatusCode::kPermissionDenied);
}

TEST(StatusTest, CompletionErrorCarriesProviderDetail) {
  Status s = Status::FromCompletionError(FI_EIO, "fi_write", "connection reset");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("[connection reset]"), std::string::npos);
}

TEST(StatusTest, ContextPrefixesAndKeepsCode) {
  Status s = Status::FromFabric(-FI_EINVAL, "fi_read").WithContext("region 7");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.fi_errno(), FI_EINVAL);
  EXPECT_EQ(s.message().rfind("region 7: fi_read", 0), 0u);
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(StatusTest, StatusOrHoldsValueOrError) {
  StatusOr<int> v = 5;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 5);
  StatusOr<int> e = NotFound("nope");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  StatusOr<int> from_ok = Status::Ok();  // a bug in the caller, reported as such
  EXPECT_EQ(from_ok.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace lightloop::runtime

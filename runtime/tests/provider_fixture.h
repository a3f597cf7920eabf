// SPDX-License-Identifier: Apache-2.0
// Opens the lightloop provider (build/lib/liblightloop-fi.so) through the
// plain libfabric API, as any libfabric program would: FI_PROVIDER_PATH is
// set before the first fi_getinfo, and the hints name the provider.
#pragma once

#include <gtest/gtest.h>
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include <string>
#include <vector>

#include "lightloop/runtime/fi_lightloop.h"

namespace lightloop::runtime::testing {

inline constexpr uint32_t kVersion = FI_VERSION(1, 17);

// Hints for the lightloop provider with FI_EP_RDM, FI_MSG and FI_RMA; the
// caller owns them (fi_freeinfo).
fi_info* LightloopHints();

struct Peer {
  fid_ep* ep = nullptr;
  fid_cq* cq = nullptr;  // transmit and receive
  fid_av* av = nullptr;
  std::string name;
};

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // An enabled endpoint with its own CQ and AV, on `domain` (default: domain_,
  // opened from info_) or on another domain opened from `info`.
  Peer OpenPeer(fi_cq_format format = FI_CQ_FORMAT_DATA, fi_av_type av_type = FI_AV_TABLE,
                fi_wait_obj wait = FI_WAIT_NONE, fid_domain* domain = nullptr, fi_info* info = nullptr);
  fi_addr_t Insert(const Peer& at, const Peer& whom);
  fid_mr* Register(void* buf, size_t len, uint64_t access);
  // What a peer names byte `offset` of `mr` with, under the negotiated mode.
  uint64_t RemoteAddr(fid_mr* mr, const void* buf, uint64_t offset) const;
  // Polls until an entry arrives (returns 1) or an error is at the head
  // (returns -FI_EAVAIL); fails the test after too many empty polls.
  ssize_t Poll(fid_cq* cq, fi_cq_data_entry* entry);
  fi_cq_err_entry ReadError(fid_cq* cq);
  uint64_t NowPs();
  // Closes `f` in TearDown, before what was opened earlier.
  void CloseAtEnd(fid* f) { to_close_.push_back(f); }
  fi_lightloop_clock_ops* clock() const { return clock_; }

  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;

 private:
  fi_lightloop_clock_ops* clock_ = nullptr;
  std::vector<fid*> to_close_;  // in reverse order of opening
};

}  // namespace lightloop::runtime::testing

// SPDX-License-Identifier: Apache-2.0
// The gRPC side of the memnode: checks fields, then asks the RegionTable.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "lightloop/proto/memnode.grpc.pb.h"
#include "memnode/region_table.h"

namespace lightloop::runtime {

class MemnodeService final : public lightloop::memnode::v1::Memnode::Service {
 public:
  struct Identity {
    std::string provider;
    std::vector<std::string> fabric_addresses;
    uint32_t addr_format = 0;
    uint64_t mr_mode = 0;
  };
  MemnodeService(RegionTable* table, Identity identity);

  grpc::Status Hello(grpc::ServerContext*, const memnode::v1::HelloRequest*,
                     memnode::v1::HelloReply*) override;
  grpc::Status Allocate(grpc::ServerContext*, const memnode::v1::AllocateRequest*,
                        memnode::v1::Region*) override;
  grpc::Status Free(grpc::ServerContext*, const memnode::v1::FreeRequest*, memnode::v1::FreeReply*) override;
  grpc::Status List(grpc::ServerContext*, const memnode::v1::ListRequest*, memnode::v1::ListReply*) override;
  grpc::Status Stats(grpc::ServerContext*, const memnode::v1::StatsRequest*,
                     memnode::v1::StatsReply*) override;
  grpc::Status Health(grpc::ServerContext*, const memnode::v1::HealthRequest*,
                      memnode::v1::HealthReply*) override;
  grpc::Status ReportTraffic(grpc::ServerContext*, const memnode::v1::TrafficReport*,
                             memnode::v1::TrafficReply*) override;
  grpc::Status CheckAccess(grpc::ServerContext*, const memnode::v1::AccessCheck*,
                           memnode::v1::AccessReply*) override;

 private:
  void Fill(const RegionView& view, memnode::v1::Region* out) const;
  double Uptime() const;

  RegionTable* table_;
  Identity id_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace lightloop::runtime

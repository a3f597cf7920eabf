// SPDX-License-Identifier: Apache-2.0
// A lightloop memory node: owns a pool of memory, registers it with a
// libfabric provider region by region, and serves the gRPC control plane
// (runtime/proto/memnode.proto). Clients move data with one-sided RMA.
//
//   MemnodeOptions opts{.provider = "tcp", .listen = "127.0.0.1:7400",
//                       .capacity = 2ull << 30};
//   LL_ASSIGN_OR_RETURN(auto node, Memnode::Start(opts));
//   std::cout << node->ReadyLine() << std::endl;   // "memnode ready ..."
//   node->Wait();                                   // until Shutdown()
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

struct MemnodeOptions {
  std::string provider;                   // empty: FI_PROVIDER or libfabric's first choice
  std::string listen = "127.0.0.1:7400";  // control plane; port 0 picks a free one
  uint64_t capacity = uint64_t{1} << 30;
  // Providers without a wait object (shm) are polled: idle, the progress
  // thread naps this long between polls; 0 spins without pause.
  std::chrono::microseconds idle_poll{50};
  // Data-plane endpoints; clients stripe across them. 0: 2, and on shm up
  // to 8 as /dev/shm allows (each takes 16 MiB of it). Providers that bind
  // memory to one endpoint get one.
  size_t endpoints = 0;
  // Threads driving the endpoints' progress, each serving every n-th
  // endpoint. 0: one per endpoint where the CQ can block (tcp); where it
  // is polled (shm), one per four cores, at least one.
  size_t progress_threads = 0;
};

class Memnode {
 public:
  static StatusOr<std::unique_ptr<Memnode>> Start(const MemnodeOptions& options);
  ~Memnode();

  // host:port actually bound (resolves port 0).
  const std::string& control_address() const;
  // The provider serving the data plane, e.g. "tcp;ofi_rxm".
  std::string provider() const;
  // "memnode ready control=HOST:PORT provider=NAME capacity=BYTES ..."
  std::string ReadyLine() const;
  // Stops serving: the control plane first, then the data plane. Idempotent,
  // safe from any thread (not from a signal handler). An error means a
  // progress thread stayed stuck inside the provider for 5 s; the process
  // should then exit without further libfabric calls (std::_Exit).
  Status Shutdown();
  // Blocks until Shutdown() has run.
  void Wait();

  struct Impl;

 private:
  explicit Memnode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::runtime

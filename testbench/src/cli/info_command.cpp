// SPDX-License-Identifier: Apache-2.0
// `lightloop info`: version and the libfabric providers lightloop can use here;
// with --config-reference, the configuration reference in markdown instead
// (docs/config-reference.md is its output).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "lightloop/hw_models/config/config_reference.h"
#include "lightloop/runtime/fabric.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench {
namespace {

runtime::Status RunInfo() {
  std::cout << "lightloop " << LIGHTLOOP_VERSION << ", libfabric " << FI_MAJOR(fi_version()) << "."
            << FI_MINOR(fi_version()) << "\n";
  std::cout << "providers with FI_EP_RDM and RMA:\n";
  for (const std::string& name : runtime::AvailableProviders()) {
    auto info = runtime::FindProvider({.provider = name});
    if (!info.ok()) continue;
    const fi_info* i = info->get();
    std::cout << "  " << name << "  (" << i->fabric_attr->prov_name << ", domain " << i->domain_attr->name
              << ", MR mode " << runtime::MrModeString(i->domain_attr->mr_mode) << ", max_msg_size "
              << i->ep_attr->max_msg_size << ")\n";
  }
  return runtime::Status::Ok();
}

runtime::Status PrintConfigReference() {
  try {
    std::cout << hw_models::ConfigReferenceMarkdown();
  } catch (const hw_models::ConfigError& e) {  // a reader rejected its own defaults
    return runtime::Internal(e.what());
  }
  return runtime::Status::Ok();
}

}  // namespace

void AddInfoCommand(CLI::App& app, CommandFn& run) {
  CLI::App* cmd = app.add_subcommand("info", "Version and the libfabric providers usable here");
  auto config_reference = std::make_shared<bool>(false);
  cmd->add_flag("--config-reference", *config_reference,
                "Print the configuration reference (every YAML key of the hardware models) as markdown");
  auto scenario_reference = std::make_shared<bool>(false);
  cmd->add_flag("--scenario-reference", *scenario_reference,
                "Print the scenario reference (every key of a `lightloop run` scenario) as markdown");
  cmd->callback([&run, config_reference, scenario_reference] {
    if (*scenario_reference) {
      run = [] {
        try {
          std::cout << ScenarioReferenceMarkdown();
        } catch (const hw_models::ConfigError& e) {  // a reader rejected its own defaults
          return runtime::Internal(e.what());
        }
        return runtime::Status::Ok();
      };
    } else if (*config_reference) {
      run = [] { return PrintConfigReference(); };
    } else {
      run = [] { return RunInfo(); };
    }
  });
}

}  // namespace lightloop::testbench

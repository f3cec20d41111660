#include "dataplane/dpdk/ports.h"

#include <rte_ethdev.h>

#include "absl/strings/str_cat.h"

namespace rtplatch {

absl::Status StartPort(const PortPlan& plan, const std::vector<rte_mempool*>& pools) {
  auto fail = [&](absl::string_view what, int rc) {
    return absl::InternalError(absl::StrCat(plan.role, " (DPDK port ", plan.port_id, "): ",
                                            what, " failed: ", rte_strerror(-rc)));
  };
  if (!rte_eth_dev_is_valid_port(plan.port_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: ", plan.role, ": DPDK port ", plan.port_id, " does not exist (",
        rte_eth_dev_count_avail(), " ports probed; check -a/--vdev)"));
  }
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(plan.port_id, &info); rc != 0) return fail("dev_info_get", rc);
  if (plan.queues > info.max_rx_queues || plan.queues > info.max_tx_queues) {
    return absl::InvalidArgumentError(absl::StrCat(
        plan.role, " (", info.driver_name, "): ", plan.queues, " lcores need ", plan.queues,
        " queues, device has ", info.max_rx_queues, " rx / ", info.max_tx_queues, " tx"));
  }
  rte_eth_conf conf{};
  // Spread flows over the lcores' queues where the NIC can; lcores hand
  // packets to the owning lcore otherwise (fast_path.h).
  uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_UDP | RTE_ETH_RSS_IP);
  if (plan.queues > 1 && rss != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss;
  }
  if (int rc = rte_eth_dev_configure(plan.port_id, plan.queues, plan.queues, &conf); rc != 0) {
    return fail("configure", rc);
  }
  uint16_t rxd = static_cast<uint16_t>(plan.rx_descriptors);
  uint16_t txd = static_cast<uint16_t>(plan.tx_descriptors);
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(plan.port_id, &rxd, &txd); rc != 0) {
    return fail("adjust descriptors", rc);
  }
  int socket = rte_eth_dev_socket_id(plan.port_id);
  for (uint16_t q = 0; q < plan.queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(plan.port_id, q, rxd, socket, nullptr, pools[q]); rc != 0) {
      return fail(absl::StrCat("rx queue ", q, " setup"), rc);
    }
    if (int rc = rte_eth_tx_queue_setup(plan.port_id, q, txd, socket, nullptr); rc != 0) {
      return fail(absl::StrCat("tx queue ", q, " setup"), rc);
    }
  }
  if (int rc = rte_eth_dev_start(plan.port_id); rc != 0) return fail("start", rc);
  if (plan.promiscuous) rte_eth_promiscuous_enable(plan.port_id);  // not all PMDs can
  return absl::OkStatus();
}

}  // namespace rtplatch

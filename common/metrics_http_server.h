// The /metrics endpoint both processes serve to Prometheus, on
// libmicrohttpd (Debian's libmicrohttpd-dev: a small embeddable HTTP/1.1
// server, what rtpengine and Kamailio's xhttp users pick, rather than an
// HTTP parser of our own facing the network).
//
// It runs on its owner's thread, in the owner's loop: no thread of its
// own, so the page is rendered where the counters live, without locks or
// copies. The owner calls Poll() every loop round or timer tick (at most
// every few milliseconds: a scrape's latency, not its throughput,
// matters); libmicrohttpd then serves the ready connections without
// blocking.
//
// GET or HEAD /metrics answers 200 with the text `render()` returns
// (prometheus_text.h); any other path 404, any other method 405.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/ip_address.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace rtplatch {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // Listens on `listen` (port 0: the kernel picks one; bound() says
  // which). A busy or unavailable address is an error naming it.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const Endpoint& listen,
                                                                   Render render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Serves what is ready; never blocks.
  void Poll();
  const Endpoint& bound() const { return bound_; }
  uint64_t scrapes() const { return scrapes_; }

  // libmicrohttpd's request callback lands here: the response to queue.
  bool Answer(MHD_Connection* connection, const char* url, const char* method);

 private:
  MetricsHttpServer(Endpoint bound, Render render) : bound_(bound), render_(std::move(render)) {}
  bool Respond(MHD_Connection* connection, unsigned status, const std::string& body,
               const char* content_type);

  const Endpoint bound_;
  Render render_;
  MHD_Daemon* daemon_ = nullptr;
  uint64_t scrapes_ = 0;
};

}  // namespace rtplatch

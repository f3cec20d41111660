// The ng protocol's UDP sockets (issue 14): one per configured address,
// IPv4 or IPv6, non-blocking, drained by Poll() from the control plane's
// loop. Every datagram is parsed (ng_message.h), looked up in the reply
// cache (a retransmission gets the first answer again; a repeat of one in
// progress is only counted), handed to the command handler, and answered
// from the socket it arrived on, to the address it came from.
//
// A datagram whose cookie cannot be read cannot be answered (the client
// matches replies by cookie): it is a counted drop. Anything else wrong
// gets an error reply.
//
// Single-threaded; time comes from the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "control/ng/bencode.h"
#include "control/ng/ng_message.h"
#include "control/ng/ng_reply_cache.h"

namespace rtplatch {

struct NgServerCounters {
  uint64_t datagrams = 0;
  uint64_t replies = 0;
  uint64_t error_replies = 0;   // malformed requests, failed commands
  uint64_t dropped = 0;         // no readable cookie: nothing to answer
  uint64_t send_errors = 0;
};

class NgServer {
 public:
  // The command's answer (a dictionary with "result"). Runs once per
  // request, never for a retransmission.
  using Handler = std::function<BencodeValue(const NgRequest& request, const Endpoint& from)>;

  // Binds every address (port 0: any free port; see local()).
  static absl::StatusOr<std::unique_ptr<NgServer>> Create(const std::vector<Endpoint>& listen,
                                                          Handler handler);
  ~NgServer();
  NgServer(const NgServer&) = delete;
  NgServer& operator=(const NgServer&) = delete;

  // Handles every datagram waiting now; returns how many.
  size_t Poll(int64_t now_ms);

  const std::vector<Endpoint>& local() const { return local_; }
  const std::vector<int>& fds() const { return fds_; }
  const NgServerCounters& counters() const { return counters_; }
  const NgReplyCache& cache() const { return cache_; }

 private:
  explicit NgServer(Handler handler) : handler_(std::move(handler)) {}
  void Handle(int fd, const char* data, size_t size, const Endpoint& from, int64_t now_ms);
  void Send(int fd, const std::string& bytes, const Endpoint& to);

  Handler handler_;
  std::vector<int> fds_;
  std::vector<Endpoint> local_;
  NgReplyCache cache_;
  std::string buffer_;
  NgServerCounters counters_;
};

}  // namespace rtplatch

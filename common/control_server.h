// The Unix stream socket the control protocol runs on, served by both the
// dataplane and the control plane (each with its own command table as the
// handler). Single-threaded and non-blocking: the owning thread calls Poll()
// between its other duties. A bad client (garbage, huge lines, vanishing
// mid-reply) costs only its own connection.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/json_lines.h"

namespace rtplatch {

class ControlServer {
 public:
  // `handler(line, &subscribe)` returns the reply line.
  using Handler = std::function<std::string(absl::string_view, bool*)>;

  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(const std::string& path,
                                                               Handler handler);
  ~ControlServer();

  // Accepts, reads and answers for at most `timeout_ms`.
  void Poll(int timeout_ms);
  // Sends an event line to every subscribed connection.
  void Broadcast(absl::string_view line);
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection {
    int fd;
    LineBuffer in;
    std::string out;  // unsent reply bytes
    bool subscribed = false;
    bool closing = false;
  };
  ControlServer(int listen_fd, int epoll_fd, std::string path, Handler handler);
  void Accept();
  void Read(Connection& c);
  void Flush(Connection& c);
  void Close(int fd);

  const int listen_fd_;
  const int epoll_fd_;
  const std::string path_;
  Handler handler_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace rtplatch

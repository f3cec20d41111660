// Client for the rtplatch control protocol (docs/control-protocol.md):
// newline-delimited JSON over a Unix stream socket. One instance speaks to one
// socket (the dataplane's today, the control plane's later); it frames
// requests, matches replies to them and queues event lines that arrive
// interleaved with replies on a subscribed connection.
//
// Failures are absl::Status values, never exceptions:
//   Connect()       kUnavailable      the socket cannot be reached (the message
//                                     names the path and strerror)
//   Send()/Call()   kDeadlineExceeded no complete reply within the timeout
//                   kInternal         connection closed, I/O error or a reply
//                                     that is not a protocol envelope
//                   kFailedPrecondition  not connected
//                   kInvalidArgument  the request is not a JSON object
// An error *reply* ({"ok":false,...}) is not a failure of the client: it comes
// back as a Reply with ok == false.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/json_lines.h"
#include "common/json_protocol.h"
#include "nlohmann/json.hpp"

namespace rtplatch::control {

inline constexpr int kProtocolVersion = kJsonProtocolVersion;

struct Reply {
  bool ok = false;
  nlohmann::json id;             // echoed request id (null if none)
  nlohmann::json result;         // ok replies
  std::string error_code;        // error replies
  std::string error_message;     // error replies
  nlohmann::json raw;            // the whole reply object
};

// Parses one reply line into a Reply; kInternal names what is wrong.
absl::StatusOr<Reply> ParseReply(absl::string_view line);

// Serializes `value` as one line (no '\n'); invalid UTF-8 is replaced, never
// thrown about.
std::string ToJsonLine(const nlohmann::json& value);

class ControlClient {
 public:
  // timeout_ms bounds connect and each request/reply round trip; <= 0 waits
  // forever. Request ids are "<id_prefix>-<pid>-<counter>".
  explicit ControlClient(std::string socket_path, int timeout_ms = 5000,
                         std::string id_prefix = "rtplatchctl");
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  absl::Status Connect();
  bool connected() const { return fd_ >= 0; }
  void Close();

  // Sends {"v":1,"id":<new>,"cmd":cmd, ...args} and waits for its reply.
  absl::StatusOr<Reply> Call(absl::string_view cmd,
                             const nlohmann::json& args =
                                 nlohmann::json::object());
  // Sends `request` (an object) after adding "v":1 and a fresh "id" when they
  // are missing, and waits for its reply.
  absl::StatusOr<Reply> Send(nlohmann::json request);
  // Pipelining: Post sends {"v":1,"id":<new>,"cmd":cmd, ...args} without
  // waiting and returns its id; Await(id) waits for that reply. The server
  // answers a connection's requests in order, so await posted ids in the
  // order they were posted, and before any Call or Send.
  absl::StatusOr<nlohmann::json> Post(absl::string_view cmd,
                                      const nlohmann::json& args);
  absl::StatusOr<Reply> Await(const nlohmann::json& id);

  // The next event line (an object with "event"); waits up to timeout_ms
  // (<= 0: forever). Events that arrived during Send() are returned first.
  absl::StatusOr<nlohmann::json> NextEvent(int timeout_ms);

  // The next event if one is buffered or readable without waiting;
  // nullopt when there is none yet. For an event loop that must not block.
  absl::StatusOr<std::optional<nlohmann::json>> PollEvent();

  const std::string& socket_path() const { return socket_path_; }
  std::string NextId();

 private:
  using Clock = std::chrono::steady_clock;
  using Deadline = std::optional<Clock::time_point>;

  Deadline DeadlineIn(int timeout_ms) const;
  absl::Status WriteAll(absl::string_view data, Deadline deadline);
  absl::Status ReadMore(Deadline deadline);
  absl::StatusOr<std::string> ReadLine(Deadline deadline);
  absl::Status WaitFor(short events, Deadline deadline);
  // One received line that must be an event (else the stream is broken).
  absl::StatusOr<nlohmann::json> EventFromLine(const std::string& line);
  absl::StatusOr<Reply> AwaitReply(const nlohmann::json& id,
                                   Deadline deadline);
  // Closes the connection and returns `status`: after a timeout or a broken
  // line the stream can no longer be trusted to pair replies with requests.
  absl::Status Fail(absl::Status status);

  std::string socket_path_;
  int timeout_ms_;
  std::string id_prefix_;
  uint64_t next_id_ = 0;
  int fd_ = -1;
  std::optional<LineBuffer> in_;  // per connection
  std::deque<nlohmann::json> events_;
};

}  // namespace rtplatch::control

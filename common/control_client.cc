#include "common/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch::control {
namespace {

using nlohmann::json;

// Replies to `list` can be large; anything past this is not a sane reply.
constexpr size_t kMaxReplyLine = 64u << 20;
constexpr size_t kReadChunk = 64u << 10;

std::string Errno(int err) { return std::strerror(err); }

absl::StatusOr<json> ParseLine(absl::string_view line) {
  try {
    json value = json::parse(line.begin(), line.end());
    if (!value.is_object()) {
      return absl::InternalError(absl::StrCat(
          "malformed reply: expected a JSON object, got ", ToJsonLine(value)));
    }
    return value;
  } catch (const json::exception& e) {
    return absl::InternalError(absl::StrCat("malformed reply: ", e.what()));
  }
}

bool IsEvent(const json& line) {
  return line.contains("event") && !line.contains("ok");
}

absl::StatusOr<Reply> ReplyFromJson(json value) {
  auto v = value.find("v");
  if (v == value.end() || *v != kProtocolVersion) {
    return absl::InternalError(absl::StrCat(
        "reply is not protocol version ", kProtocolVersion, ": ",
        ToJsonLine(value)));
  }
  auto ok = value.find("ok");
  if (ok == value.end() || !ok->is_boolean()) {
    return absl::InternalError(
        absl::StrCat("reply has no boolean \"ok\": ", ToJsonLine(value)));
  }
  Reply reply;
  reply.ok = ok->get<bool>();
  if (auto id = value.find("id"); id != value.end()) reply.id = *id;
  if (reply.ok) {
    if (auto r = value.find("result"); r != value.end()) reply.result = *r;
  } else {
    auto error = value.find("error");
    if (error == value.end() || !error->is_object() ||
        !error->contains("code") || !(*error)["code"].is_string()) {
      return absl::InternalError(absl::StrCat(
          "error reply has no error.code: ", ToJsonLine(value)));
    }
    reply.error_code = (*error)["code"].get<std::string>();
    auto message = error->find("message");
    if (message != error->end() && message->is_string()) {
      reply.error_message = message->get<std::string>();
    }
  }
  reply.raw = std::move(value);
  return reply;
}

}  // namespace

std::string ToJsonLine(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<Reply> ParseReply(absl::string_view line) {
  auto value = ParseLine(line);
  if (!value.ok()) return value.status();
  return ReplyFromJson(*std::move(value));
}

ControlClient::ControlClient(std::string socket_path, int timeout_ms,
                             std::string id_prefix)
    : socket_path_(std::move(socket_path)),
      timeout_ms_(timeout_ms),
      id_prefix_(std::move(id_prefix)) {}

ControlClient::~ControlClient() { Close(); }

void ControlClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_.reset();
}

absl::Status ControlClient::Fail(absl::Status status) {
  Close();
  return status;
}

std::string ControlClient::NextId() {
  return absl::StrCat(id_prefix_, "-", ::getpid(), "-", ++next_id_);
}

ControlClient::Deadline ControlClient::DeadlineIn(int timeout_ms) const {
  if (timeout_ms <= 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

absl::Status ControlClient::Connect() {
  Close();
  auto unavailable = [&](absl::string_view why) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot connect to ", socket_path_, ": ", why)));
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) {
    return unavailable(Errno(ENAMETOOLONG));
  }
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return unavailable(Errno(errno));
  // A blocking connect to a Unix socket honours SO_SNDTIMEO (full backlog).
  if (timeout_ms_ > 0) {
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  int rc;
  do {
    rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return unavailable(Errno(errno));
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) {
    return unavailable(Errno(errno));
  }
  in_.emplace(kMaxReplyLine);
  return absl::OkStatus();
}

absl::Status ControlClient::WaitFor(short events, Deadline deadline) {
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(
          *deadline - Clock::now());
      if (left.count() <= 0) {
        return absl::DeadlineExceededError(absl::StrCat(
            "timeout: no reply from ", socket_path_, " within ", timeout_ms_,
            " ms"));
      }
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{fd_, events, 0};
    int rc = ::poll(&p, 1, wait_ms);
    if (rc > 0) return absl::OkStatus();  // ready, or HUP/ERR for I/O to see
    if (rc < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", Errno(errno)));
    }
  }
}

absl::Status ControlClient::WriteAll(absl::string_view data, Deadline deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto s = WaitFor(POLLOUT, deadline); !s.ok()) return s;
    } else if (errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("send to ", socket_path_, ": ", Errno(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status ControlClient::ReadMore(Deadline deadline) {
  for (;;) {
    if (auto s = WaitFor(POLLIN, deadline); !s.ok()) return s;
    char chunk[kReadChunk];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      in_->Append(std::string_view(chunk, static_cast<size_t>(n)));
      return absl::OkStatus();
    }
    if (n == 0) {
      return absl::InternalError(
          absl::StrCat("connection closed by ", socket_path_));
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("recv from ", socket_path_, ": ", Errno(errno)));
    }
  }
}

absl::StatusOr<std::string> ControlClient::ReadLine(Deadline deadline) {
  for (;;) {
    if (std::optional<std::string> line = in_->NextLine()) return *line;
    if (in_->overflowed()) {
      return absl::InternalError(absl::StrCat(
          "reply line from ", socket_path_, " exceeds ", kMaxReplyLine,
          " bytes"));
    }
    if (auto s = ReadMore(deadline); !s.ok()) return s;
  }
}

absl::StatusOr<Reply> ControlClient::Call(absl::string_view cmd,
                                          const json& args) {
  if (!args.is_object()) {
    return absl::InvalidArgumentError("request arguments must be an object");
  }
  json request = {
      {"v", kProtocolVersion}, {"id", NextId()}, {"cmd", std::string(cmd)}};
  request.update(args);
  return Send(std::move(request));
}

absl::StatusOr<json> ControlClient::Post(absl::string_view cmd, const json& args) {
  if (!args.is_object()) {
    return absl::InvalidArgumentError("request arguments must be an object");
  }
  if (fd_ < 0) return absl::FailedPreconditionError("not connected");
  json request = {
      {"v", kProtocolVersion}, {"id", NextId()}, {"cmd", std::string(cmd)}};
  request.update(args);
  if (auto s = WriteAll(ToJsonLine(request) + "\n", DeadlineIn(timeout_ms_)); !s.ok()) {
    return Fail(s);
  }
  return request["id"];
}

absl::StatusOr<Reply> ControlClient::Await(const json& id) {
  if (fd_ < 0) return absl::FailedPreconditionError("not connected");
  return AwaitReply(id, DeadlineIn(timeout_ms_));
}

absl::StatusOr<Reply> ControlClient::Send(json request) {
  if (!request.is_object()) {
    return absl::InvalidArgumentError("request must be a JSON object");
  }
  if (fd_ < 0) return absl::FailedPreconditionError("not connected");
  if (!request.contains("v")) request["v"] = kProtocolVersion;
  if (!request.contains("id")) request["id"] = NextId();
  Deadline deadline = DeadlineIn(timeout_ms_);
  if (auto s = WriteAll(ToJsonLine(request) + "\n", deadline); !s.ok()) {
    return Fail(s);
  }
  return AwaitReply(request["id"], deadline);
}

absl::StatusOr<Reply> ControlClient::AwaitReply(const json& id,
                                                Deadline deadline) {
  for (;;) {
    auto line = ReadLine(deadline);
    if (!line.ok()) return Fail(line.status());
    if (line->empty()) continue;
    auto value = ParseLine(*line);
    if (!value.ok()) return Fail(value.status());
    if (IsEvent(*value)) {
      events_.push_back(*std::move(value));
      continue;
    }
    auto reply = ReplyFromJson(*std::move(value));
    if (!reply.ok()) return Fail(reply.status());
    // A request the server could not parse is answered with a null id.
    bool unattributed = reply->id.is_null() && !reply->ok;
    if (reply->id != id && !unattributed) {
      return Fail(absl::InternalError(
          absl::StrCat("reply id ", ToJsonLine(reply->id),
                       " does not match request id ", ToJsonLine(id))));
    }
    return reply;
  }
}

absl::StatusOr<json> ControlClient::NextEvent(int timeout_ms) {
  if (!events_.empty()) {
    json event = std::move(events_.front());
    events_.pop_front();
    return event;
  }
  if (fd_ < 0) return absl::FailedPreconditionError("not connected");
  Deadline deadline = DeadlineIn(timeout_ms);
  for (;;) {
    // A timeout here leaves any partial line buffered: the stream stays usable.
    auto line = ReadLine(deadline);
    if (absl::IsDeadlineExceeded(line.status())) {
      return absl::DeadlineExceededError(absl::StrCat(
          "timeout: no event from ", socket_path_, " within ", timeout_ms,
          " ms"));
    }
    if (!line.ok()) return Fail(line.status());
    if (line->empty()) continue;
    return EventFromLine(*line);
  }
}

absl::StatusOr<json> ControlClient::EventFromLine(const std::string& line) {
  auto value = ParseLine(line);
  if (!value.ok()) return Fail(value.status());
  if (!IsEvent(*value)) {
    return Fail(absl::InternalError(
        absl::StrCat("unexpected reply while waiting for events: ", line)));
  }
  return value;
}

absl::StatusOr<std::optional<json>> ControlClient::PollEvent() {
  if (!events_.empty()) {
    json event = std::move(events_.front());
    events_.pop_front();
    return event;
  }
  if (fd_ < 0) return absl::FailedPreconditionError("not connected");
  for (;;) {
    if (std::optional<std::string> line = in_->NextLine()) {
      if (line->empty()) continue;
      auto event = EventFromLine(*line);
      if (!event.ok()) return event.status();
      return std::optional<json>(*std::move(event));
    }
    if (in_->overflowed()) {
      return Fail(absl::InternalError(absl::StrCat("event line from ", socket_path_,
                                                   " exceeds ", kMaxReplyLine, " bytes")));
    }
    char chunk[kReadChunk];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      in_->Append(std::string_view(chunk, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) {
      return Fail(absl::InternalError(absl::StrCat("connection closed by ", socket_path_)));
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<json>();
    if (errno != EINTR) {
      return Fail(absl::InternalError(absl::StrCat("recv from ", socket_path_, ": ", Errno(errno))));
    }
  }
}

}  // namespace rtplatch::control

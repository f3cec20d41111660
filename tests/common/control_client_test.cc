// ControlClient against a scripted fake server on a temporary Unix socket:
// request framing, reply parsing, error replies, interleaved events,
// timeouts and broken connections.
#include "common/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace rtplatch::control {
namespace {

using json = nlohmann::json;

// Accepts one connection and runs `script` on it in a thread.
class FakeServer {
 public:
  FakeServer() {
    char dir[] = "/tmp/control_client_test.XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/s.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
  }
  ~FakeServer() {
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  void Run(std::function<void(int fd)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      script(fd);
      ::close(fd);
    });
  }
  void Join() { thread_.join(); }
  const std::string& path() const { return path_; }

  // Everything up to and including the next '\n' ("" at EOF).
  static std::string ReadLine(int fd) {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1) {
      line += c;
      if (c == '\n') break;
    }
    return line;
  }
  static void Write(int fd, const std::string& bytes) {
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  // Reads the request and answers {"ok":true,"result":result} to its id.
  static json AnswerOk(int fd, const json& result) {
    json request = json::parse(ReadLine(fd));
    Write(fd, json{{"v", 1}, {"id", request["id"]}, {"ok", true},
                   {"result", result}}.dump() + "\n");
    return request;
  }
  static void DrainUntilEof(int fd) {
    while (!ReadLine(fd).empty()) {
    }
  }

 private:
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

TEST(ControlClientTest, RequestIsOneLineWithEnvelopeAndUniqueIds) {
  FakeServer server;
  std::string first, second;
  server.Run([&](int fd) {
    first = FakeServer::ReadLine(fd);
    json r = json::parse(first);
    FakeServer::Write(fd, json{{"v", 1}, {"id", r["id"]}, {"ok", true},
                               {"result", {{"stream", 12}}}}.dump() + "\n");
    FakeServer::AnswerOk(fd, json::object());
    second = "done";
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("query", {{"stream", 12}});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->ok);
  EXPECT_EQ(reply->result["stream"], 12);
  ASSERT_TRUE(client.Call("version").ok());
  server.Join();

  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.back(), '\n');
  EXPECT_EQ(first.find('\n'), first.size() - 1) << "exactly one line";
  json request = json::parse(first);
  EXPECT_EQ(request["v"], 1);
  EXPECT_EQ(request["cmd"], "query");
  EXPECT_EQ(request["stream"], 12);
  ASSERT_TRUE(request["id"].is_string());
  EXPECT_FALSE(request["id"].get<std::string>().empty());
  EXPECT_EQ(reply->id, request["id"]);
  EXPECT_NE(client.NextId(), client.NextId());
}

TEST(ControlClientTest, SendAddsVersionAndIdOnlyWhenMissing) {
  FakeServer server;
  json seen_raw, seen_bare;
  server.Run([&](int fd) {
    seen_raw = FakeServer::AnswerOk(fd, json::object());
    seen_bare = FakeServer::AnswerOk(fd, json::object());
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Send({{"cmd", "version"}, {"id", "mine"}, {"v", 7}}).ok());
  ASSERT_TRUE(client.Send({{"cmd", "help"}}).ok());
  server.Join();
  EXPECT_EQ(seen_raw["id"], "mine");
  EXPECT_EQ(seen_raw["v"], 7);
  EXPECT_EQ(seen_bare["v"], 1);
  EXPECT_TRUE(seen_bare["id"].is_string());
  EXPECT_FALSE(client.Send(json::array({1, 2})).ok());
}

TEST(ControlClientTest, ErrorReplyIsAReplyNotAFailure) {
  FakeServer server;
  server.Run([](int fd) {
    json r = json::parse(FakeServer::ReadLine(fd));
    FakeServer::Write(fd, json{{"v", 1}, {"id", r["id"]}, {"ok", false},
                               {"error", {{"code", "not_found"},
                                          {"message", "stream: 99 not found"}}}}
                                  .dump() + "\n");
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("query", {{"stream", 99}});
  server.Join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->ok);
  EXPECT_EQ(reply->error_code, "not_found");
  EXPECT_EQ(reply->error_message, "stream: 99 not found");
}

TEST(ControlClientTest, UnattributedErrorReplyIsAccepted) {
  FakeServer server;
  server.Run([](int fd) {
    FakeServer::ReadLine(fd);
    FakeServer::Write(fd, R"({"v":1,"id":null,"ok":false,"error":{"code":"parse_error","message":"request is not a JSON object"}})"
                          "\n");
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("version");
  server.Join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->error_code, "parse_error");
}

TEST(ControlClientTest, ReplySplitAcrossWritesIsReassembled) {
  FakeServer server;
  server.Run([](int fd) {
    json r = json::parse(FakeServer::ReadLine(fd));
    std::string line = json{{"v", 1}, {"id", r["id"]}, {"ok", true},
                            {"result", {{"subscribed", true}}}}.dump() + "\n";
    FakeServer::Write(fd, line.substr(0, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    FakeServer::Write(fd, line.substr(10));
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("subscribe");
  server.Join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->result["subscribed"], true);
}

TEST(ControlClientTest, EventsBeforeTheReplyAreQueued) {
  FakeServer server;
  server.Run([](int fd) {
    json r = json::parse(FakeServer::ReadLine(fd));
    FakeServer::Write(fd,
        R"({"v":1,"event":"latched","stream":3,"pair":2,"peer":"192.0.2.1:4000"})"
        "\n" + json{{"v", 1}, {"id", r["id"]}, {"ok", true},
                    {"result", json::object()}}.dump() + "\n" +
        R"({"v":1,"event":"idle","stream":3,"pair":2,"idle_ms":5000})" "\n");
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("stats");
  ASSERT_TRUE(reply.ok()) << reply.status();
  auto first = client.NextEvent(2000);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)["event"], "latched");
  auto second = client.NextEvent(2000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)["event"], "idle");
  server.Join();
}

TEST(ControlClientTest, NoReplyTimesOutAndDropsTheConnection) {
  FakeServer server;
  server.Run([](int fd) { FakeServer::DrainUntilEof(fd); });
  ControlClient client(server.path(), 100);
  ASSERT_TRUE(client.Connect().ok());
  auto start = std::chrono::steady_clock::now();
  auto reply = client.Call("stats");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(reply.status())) << reply.status();
  EXPECT_NE(reply.status().message().find(server.path()), std::string::npos);
  EXPECT_GE(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_FALSE(client.connected());  // the late reply must not pair with a later request
  server.Join();
}

TEST(ControlClientTest, NextEventTimeoutKeepsTheConnection) {
  FakeServer server;
  server.Run([](int fd) { FakeServer::DrainUntilEof(fd); });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto event = client.NextEvent(50);
  EXPECT_TRUE(absl::IsDeadlineExceeded(event.status())) << event.status();
  EXPECT_TRUE(client.connected());
  client.Close();
  server.Join();
}

TEST(ControlClientTest, MalformedReplyIsAClearError) {
  FakeServer server;
  server.Run([](int fd) {
    FakeServer::ReadLine(fd);
    FakeServer::Write(fd, "this is not json\n");
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("stats");
  server.Join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(reply.status().message().find("malformed reply"), std::string::npos)
      << reply.status();
}

TEST(ControlClientTest, ReplyWithAnotherIdIsRejected) {
  FakeServer server;
  server.Run([](int fd) {
    FakeServer::ReadLine(fd);
    FakeServer::Write(fd, R"({"v":1,"id":"someone-else","ok":true,"result":{}})" "\n");
  });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("stats");
  server.Join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(reply.status().message().find("does not match"), std::string::npos);
}

TEST(ControlClientTest, ServerClosingIsReported) {
  FakeServer server;
  server.Run([](int fd) { FakeServer::ReadLine(fd); });
  ControlClient client(server.path(), 2000);
  ASSERT_TRUE(client.Connect().ok());
  auto reply = client.Call("stats");
  server.Join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(reply.status().message().find("connection closed"), std::string::npos);
}

TEST(ControlClientTest, ConnectFailureNamesThePathAndTheReason) {
  ControlClient client("/nonexistent/rtplatch.sock", 100);
  absl::Status s = client.Connect();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("/nonexistent/rtplatch.sock"), std::string::npos);
  EXPECT_NE(s.message().find(std::strerror(ENOENT)), std::string::npos);
  EXPECT_FALSE(client.Call("stats").ok());
}

TEST(ParseReplyTest, RejectsWhatIsNotAnEnvelope) {
  EXPECT_FALSE(ParseReply("[1,2]").ok());
  EXPECT_FALSE(ParseReply(R"({"v":2,"ok":true})").ok());
  EXPECT_FALSE(ParseReply(R"({"v":1,"result":{}})").ok());
  EXPECT_FALSE(ParseReply(R"({"v":1,"ok":false})").ok());
  EXPECT_FALSE(ParseReply(R"({"v":1,"ok":tru)").ok());
  auto ok = ParseReply(R"({"v":1,"id":"x","ok":true,"result":{"a":1}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->result["a"], 1);
  auto err = ParseReply(R"({"v":1,"ok":false,"error":{"code":"internal"}})");
  ASSERT_TRUE(err.ok()) << err.status();
  EXPECT_EQ(err->error_code, "internal");
  EXPECT_EQ(err->error_message, "");
}

}  // namespace
}  // namespace rtplatch::control

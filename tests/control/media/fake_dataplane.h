// A dataplane stand-in for control-plane tests: the real ControlServer on a
// Unix socket in its own temp dir, polled from its own thread. It records
// every request, accepts "subscribe", answers every other command through a
// responder the test sets, and sends pushed event lines to the subscribed
// connection, as the dataplane's control socket does.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/control_server.h"
#include "nlohmann/json.hpp"

namespace rtplatch::testing {

// What the fake dataplane answers to one request: a result, or an error
// reply with `error_code`.
struct Answer {
  nlohmann::json result = nlohmann::json::object();
  std::string error_code;
};
inline Answer Ok(nlohmann::json result) { return Answer{std::move(result), ""}; }
inline Answer Err(std::string code) { return Answer{nlohmann::json::object(), std::move(code)}; }

class FakeDataplane {
 public:
  using json = nlohmann::json;
  // Called on the server thread with every request but "subscribe".
  using Responder = std::function<Answer(const json& request)>;

  // A "targets" list longer than this is recorded by its size only, so a
  // 50 000-target batch stays cheap to record and to compare.
  static constexpr size_t kMaxRecordedTargets = 100;

  // Makes the temp dir; the socket is not there until Start().
  FakeDataplane() {
    char tmpl[] = "/tmp/fake_dataplane.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl;
      return;
    }
    dir_ = tmpl;
    path_ = dir_ + "/dataplane.sock";
  }
  ~FakeDataplane() {
    Stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  FakeDataplane(const FakeDataplane&) = delete;
  FakeDataplane& operator=(const FakeDataplane&) = delete;

  // The socket DataplaneLink connects to.
  const std::string& path() const { return path_; }

  void Start() {
    if (on_start_) on_start_();
    auto server = ControlServer::Listen(path_, [this](absl::string_view line, bool* subscribe) {
      return Handle(line, subscribe);
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stop_ = false;
    thread_ = std::thread([this] {
      while (!stop_) {
        server_->Poll(2);
        std::vector<std::string> lines;
        {
          std::lock_guard<std::mutex> lock(mu_);
          lines.swap(pushes_);
        }
        for (const std::string& l : lines) server_->Broadcast(l);
      }
    });
  }
  // Goes away: every connection closed, the socket file removed.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    server_.reset();
  }

  // Without a responder every command gets an empty result.
  void set_responder(Responder r) {
    std::lock_guard<std::mutex> lock(mu_);
    responder_ = std::move(r);
  }
  // Runs at the beginning of every Start(), before the socket listens: where
  // a fake with state forgets it, as a restarted dataplane does. Set it
  // before the first Start().
  void set_on_start(std::function<void()> f) { on_start_ = std::move(f); }

  void Push(const json& event) {
    std::lock_guard<std::mutex> lock(mu_);
    pushes_.push_back(event.dump());
  }
  std::vector<json> Requests(absl::string_view cmd) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    for (const json& r : requests_) {
      if (r.value("cmd", "") == cmd) out.push_back(r);
    }
    return out;
  }
  std::vector<std::string> Commands() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const json& r : requests_) out.push_back(r.value("cmd", ""));
    return out;
  }
  void ClearRequests() {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.clear();
  }

 private:
  static json Recorded(const json& request) {
    if (!request.is_object()) return request;
    json recorded = json::object();
    for (const auto& [key, value] : request.items()) {
      const bool big = key == "targets" && value.size() > kMaxRecordedTargets;
      recorded[key] = big ? json(value.size()) : value;
    }
    return recorded;
  }

  std::string Handle(absl::string_view line, bool* subscribe) {
    json request = json::parse(line.begin(), line.end(), nullptr, false);
    const std::string cmd = request.is_object() ? request.value("cmd", "") : "";
    Responder responder;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(Recorded(request));
      responder = responder_;
    }
    Answer answer;
    if (cmd == "subscribe") {
      *subscribe = true;
      answer = Ok({{"subscribed", true}});
    } else if (responder) {
      answer = responder(request);  // no lock held: it may take its time
    }
    json reply = {{"v", 1}, {"id", request.is_object() ? request.value("id", json()) : json()}};
    if (answer.error_code.empty()) {
      reply["ok"] = true;
      reply["result"] = answer.result;
    } else {
      reply["ok"] = false;
      reply["error"] = {{"code", answer.error_code},
                        {"message", absl::StrCat(cmd, ": refused by the test")}};
    }
    return reply.dump();
  }

  std::string dir_;
  std::string path_;
  std::function<void()> on_start_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  Responder responder_;
  std::vector<json> requests_;
  std::vector<std::string> pushes_;
};

}  // namespace rtplatch::testing

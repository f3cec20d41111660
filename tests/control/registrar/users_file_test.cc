#include "control/registrar/users_file.h"
#include "control/registrar/reloadable_users.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/control/registrar/scratch_dir.h"

namespace rtplatch {
namespace {

constexpr char kMd5Ha1[] = "939e7578ed9e3c518a452acee763bce9";
constexpr char kSha256Ha1[] =
    "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232";

absl::StatusOr<std::unique_ptr<UsersFile>> Parse(absl::string_view text) {
  return UsersFile::Parse(text, "users.txt");
}

void ExpectError(absl::string_view text, absl::string_view line,
                 absl::string_view problem) {
  auto file = Parse(text);
  ASSERT_FALSE(file.ok()) << text;
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(file.status().message(),
                                absl::StrCat("users.txt line ", line, ":")))
      << file.status();
  EXPECT_TRUE(absl::StrContains(file.status().message(), problem))
      << file.status();
}

TEST(UsersFileTest, ParsesEveryEntryForm) {
  auto file = Parse(absl::StrCat(
      "# rtplatch users\n"
      "\n"
      "alice@example.com:wonderland\n"
      "   # indented comment\n"
      "bob@Example.COM:md5:", kMd5Ha1, "\n",
      "carol@example.com:SHA256:", absl::AsciiStrToUpper(kSha256Ha1), "\r\n",
      "dave@example.com:plain:md5:not-a-hash\n"
      "erin@example.com:pa:ss#word with spaces\n"
      "frank@[2001:db8::1]:secret\n"
      "\t\n"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 6u);

  const std::optional<UserCredential> alice = (*file)->Find("alice", "example.com");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->password, "wonderland");
  EXPECT_FALSE(alice->ha1_md5.has_value());

  const std::optional<UserCredential> bob = (*file)->Find("bob", "example.com");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->domain, "example.com");
  EXPECT_EQ(bob->ha1_md5, kMd5Ha1);
  EXPECT_FALSE(bob->password.has_value());
  EXPECT_TRUE(bob->Supports(DigestAlgorithm::kMd5));
  EXPECT_FALSE(bob->Supports(DigestAlgorithm::kSha256));

  const std::optional<UserCredential> carol = (*file)->Find("carol", "example.com");
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol->ha1_sha256, kSha256Ha1) << "hex is stored lowercase";
  EXPECT_EQ(carol->Ha1(DigestAlgorithm::kSha256), kSha256Ha1);
  EXPECT_EQ(carol->Ha1(DigestAlgorithm::kMd5), std::nullopt);

  EXPECT_EQ((*file)->Find("dave", "example.com")->password, "md5:not-a-hash");
  EXPECT_EQ((*file)->Find("erin", "example.com")->password,
            "pa:ss#word with spaces");
  ASSERT_TRUE((*file)->Find("frank", "[2001:db8::1]"));
  EXPECT_EQ((*file)->Find("frank", "[2001:db8::1]")->password, "secret");
}

// A reload swaps whole files under the registrar's reference.
TEST(UsersFileTest, ReloadableUsersTakeANewFileWhole) {
  auto first = UsersFile::Parse("alice@example.test:plain:one\n", "users");
  ASSERT_TRUE(first.ok()) << first.status();
  ReloadableUsers users(*std::move(first));
  const CredentialSource& source = users;
  ASSERT_TRUE(source.Find("alice", "example.test").has_value());
  EXPECT_FALSE(source.Find("erin", "example.test").has_value());
  auto second = UsersFile::Parse("erin@example.test:plain:two\n", "users");
  ASSERT_TRUE(second.ok()) << second.status();
  users.Replace(*std::move(second));
  EXPECT_FALSE(source.Find("alice", "example.test").has_value()) << "alice left the file";
  ASSERT_TRUE(source.Find("erin", "example.test").has_value());
  EXPECT_EQ(users.size(), 1u);
}

TEST(UsersFileTest, DomainsMatchCaseInsensitivelyUsersDoNot) {
  auto file = Parse("alice@example.com:pw\n");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE((*file)->Find("alice", "EXAMPLE.com"));
  EXPECT_FALSE((*file)->Find("Alice", "example.com"));
  EXPECT_FALSE((*file)->Find("alice", "example.org"));
  EXPECT_FALSE((*file)->Find("alice@example.com", ""));
}

TEST(UsersFileTest, PasswordEntryAnswersBothAlgorithms) {
  auto file = Parse("Mufasa@testrealm@host.com:Circle Of Life\n");
  // '@' in a domain is refused: the realm of RFC 2617's example is not a
  // SIP domain.
  ASSERT_FALSE(file.ok());
  file = Parse("alice@example.com:wonderland\n");
  ASSERT_TRUE(file.ok());
  const std::optional<UserCredential> alice = (*file)->Find("alice", "example.com");
  EXPECT_EQ(alice->Ha1(DigestAlgorithm::kMd5),
            ComputeHa1(DigestAlgorithm::kMd5, "alice", "example.com", "wonderland"));
  EXPECT_EQ(alice->Ha1(DigestAlgorithm::kSha256),
            ComputeHa1(DigestAlgorithm::kSha256, "alice", "example.com",
                       "wonderland"));
}

TEST(UsersFileTest, EmptyAndCommentOnlyFilesHaveNoUsers) {
  for (const char* text : {"", "\n\n", "# nobody yet\n  \n"}) {
    auto file = Parse(text);
    ASSERT_TRUE(file.ok()) << text;
    EXPECT_EQ((*file)->size(), 0u);
  }
}

TEST(UsersFileTest, ErrorsNameTheLineAndTheProblem) {
  ExpectError("# users\nalice@example.com:pw\nbob.example.com:pw\n", "3", "no '@'");
  ExpectError("@example.com:pw\n", "1", "empty user");
  ExpectError("al ice@example.com:pw\n", "1", "whitespace");
  ExpectError("al:ice@example.com:pw\n", "1", "':'");
  ExpectError("alice@:pw\n", "1", "empty domain");
  ExpectError("alice@example.com\n", "1", "expected ':' and a secret");
  ExpectError("alice@[2001:db8::1:pw\n", "1", "no closing ']'");
  ExpectError("alice@[2001:db8::1]pw\n", "1", "expected ':'");
  ExpectError("alice@exa mple.com:pw\n", "1", "whitespace");
  ExpectError("alice@example.com:\n", "1", "empty password");
  ExpectError("alice@example.com:plain:\n", "1", "empty password");
  ExpectError("alice@example.com:md5:1234\n", "1", "32 hex digits, got 4");
  ExpectError(absl::StrCat("alice@example.com:md5:", std::string(31, 'a'), "g\n"),
              "1", "non-hex character 'g'");
  ExpectError(absl::StrCat("alice@example.com:sha256:", kMd5Ha1, "\n"), "1",
              "64 hex digits, got 32");
}

TEST(UsersFileTest, DuplicateUsersRejectedNamingBothLines) {
  ExpectError("alice@example.com:one\n\nalice@EXAMPLE.com:md5:" +
                  std::string(kMd5Ha1) + "\n",
              "3", "duplicate user alice@example.com (first defined on line 1)");
  // Same user in two domains is two users.
  EXPECT_TRUE(Parse("alice@example.com:a\nalice@example.org:b\n").ok());
}

TEST(UsersFileTest, ErrorsDoNotEchoPasswords) {
  auto file = Parse("alice example.com:hunter2-secret\n");
  ASSERT_FALSE(file.ok());
  EXPECT_FALSE(absl::StrContains(file.status().message(), "hunter2"))
      << file.status();
}

class UsersFileLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
  }

  ScratchDir scratch_{"users_file_test"};
  const std::string dir_ = scratch_.path();
};

TEST_F(UsersFileLoadTest, LoadsFromAPipe) {
  const std::string path = dir_ + "/users.fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  std::string contents;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&contents, "u", i, "@example.com:pw", i, "\n");
  std::thread writer([&] { std::ofstream(path) << contents; });
  auto file = UsersFile::Load(path);
  writer.join();
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 5000u);
  EXPECT_EQ((*file)->Find("u4999", "example.com")->password, "pw4999");
}

TEST_F(UsersFileLoadTest, LoadsFromDisk) {
  const std::string path = dir_ + "/users";
  std::ofstream(path) << "alice@example.com:wonderland\n";
  auto file = UsersFile::Load(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Find("alice", "example.com"));
}

TEST_F(UsersFileLoadTest, ErrorsNameThePath) {
  const std::string path = dir_ + "/users";
  std::ofstream(path) << "alice@example.com:ok\nbroken\n";
  auto file = UsersFile::Load(path);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::StrContains(file.status().message(),
                                absl::StrCat("users file ", path, " line 2:")))
      << file.status();

  auto missing = UsersFile::Load(dir_ + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), dir_ + "/absent"));
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "cannot open"));
}

// The file is what the authenticator looks users up in.
TEST(UsersFileTest, ServesAsTheAuthenticatorsCredentialSource) {
  auto file = Parse(absl::StrCat(
      "bob@example.com:md5:",
      ComputeHa1(DigestAlgorithm::kMd5, "bob", "example.com", "builder"), "\n"));
  ASSERT_TRUE(file.ok());
  auto auth = DigestAuthenticator::Create(
      {.realm = "example.com", .secret = "0123456789abcdef"}, **file);
  ASSERT_TRUE(auth.ok());
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  std::string challenge = (*auth)->Challenge(DigestAlgorithm::kMd5, now);
  auto param = [&](absl::string_view name) {
    size_t at = challenge.find(absl::StrCat(name, "=\"")) + name.size() + 2;
    return challenge.substr(at, challenge.find('"', at) - at);
  };
  std::string nonce = param("nonce");
  std::string response = ComputeDigestResponse(
      DigestAlgorithm::kMd5,
      ComputeHa1(DigestAlgorithm::kMd5, "bob", "example.com", "builder"), nonce,
      "00000001", "c1", "auth", "REGISTER", "sip:example.com");
  std::string header = absl::StrCat(
      "Digest username=\"bob\", realm=\"example.com\", nonce=\"", nonce,
      "\", uri=\"sip:example.com\", response=\"", response,
      "\", cnonce=\"c1\", nc=00000001, qop=auth, opaque=\"", param("opaque"), "\"");
  auto user = (*auth)->VerifyFor("bob", "example.com", header, "REGISTER",
                                 "sip:example.com", now);
  EXPECT_TRUE(user.ok()) << user.status();
}

}  // namespace
}  // namespace rtplatch

namespace rtplatch {
namespace {

TEST(UsersFileTest, EveryOneOfManyUsersIsFoundWithItsOwnSecret) {
  std::string contents;
  for (int i = 0; i < 20000; ++i) {
    const std::string user = absl::StrCat("u", i);
    if (i % 2 == 0) {
      absl::StrAppend(&contents, user, "@example.com:md5:",
                      ComputeHa1(DigestAlgorithm::kMd5, user, "example.com", "pw"), "\n");
    } else {
      absl::StrAppend(&contents, user, "@example.com:pw", i, "\n");
    }
  }
  auto file = UsersFile::Parse(contents, "many");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 20000u);
  for (int i = 0; i < 20000; i += 997) {
    const std::string user = absl::StrCat("u", i);
    const std::optional<UserCredential> cred = (*file)->Find(user, "EXAMPLE.COM");
    ASSERT_TRUE(cred) << user;
    EXPECT_EQ(cred->user, user);
    EXPECT_EQ(cred->Ha1(DigestAlgorithm::kMd5),
              ComputeHa1(DigestAlgorithm::kMd5, user, "example.com",
                         i % 2 == 0 ? "pw" : absl::StrCat("pw", i)));
  }
  EXPECT_FALSE((*file)->Find("u20000", "example.com"));
}

TEST(UsersFileTest, APasswordTooLongForTheTableIsRefusedWithItsLine) {
  auto file = UsersFile::Parse(
      absl::StrCat("alice@example.com:ok\nbob@example.com:", std::string(70000, 'x'), "\n"),
      "long");
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::StrContains(file.status().message(),
                                 "line 2: user, domain or password longer than 65535"))
      << file.status();
}

}  // namespace
}  // namespace rtplatch

// bench_grpc: the gRPC C++ reference for nodenet's RPC benchmarks.
//
//   bench_grpc server --port P [--certs DIR]       prints "ready port=P", serves until killed
//   bench_grpc client --port P [--certs DIR] [--size BYTES] [--inflight N] [--seconds S]
//
// It measures what bench_rpc measures on nodenet: unary echo calls of --size bytes over
// ONE channel, --inflight calls outstanding at all times, for --seconds; every reply is
// checked. With --certs both sides present certificates from deploy/gen-certs (the server
// n1's, the client n2's, each verified against ca.pem: mutual TLS, as between two nodes).
// The client prints "ok calls=N calls_s=X p50_us=A p99_us=B mib_s=M" (mib_s counts the
// payload both ways) and exits 1 on any failed or wrong call.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "grpc_echo.grpc.pb.h"

namespace {

struct Options {
    std::string mode;
    int port = 0;
    std::string certs;
    size_t size = 64;
    int inflight = 1;
    double seconds = 1.0;
};

bool ReadFile(const std::string &path, std::string *out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "bench_grpc: cannot read %s\n", path.c_str());
        return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return true;
}

uint64_t NowNs() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

// The callback API: gRPC's own recommended path for a fast C++ server.
class EchoService final : public nnbench::Echo::CallbackService {
    grpc::ServerUnaryReactor *Echo(grpc::CallbackServerContext *ctx,
                                   const nnbench::EchoMessage *req,
                                   nnbench::EchoMessage *resp) override {
        resp->set_payload(req->payload());
        grpc::ServerUnaryReactor *reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }
};

int RunServer(const Options &o) {
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (o.certs.empty()) {
        creds = grpc::InsecureServerCredentials();
    } else {
        grpc::SslServerCredentialsOptions so(
            GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
        grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
        if (!ReadFile(o.certs + "/ca.pem", &so.pem_root_certs) ||
            !ReadFile(o.certs + "/n1-key.pem", &pair.private_key) ||
            !ReadFile(o.certs + "/n1-cert.pem", &pair.cert_chain)) {
            return 1;
        }
        so.pem_key_cert_pairs.push_back(pair);
        creds = grpc::SslServerCredentials(so);
    }
    EchoService service;
    grpc::ServerBuilder builder;
    int selected = 0;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(o.port), creds, &selected);
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || selected == 0) {
        std::fprintf(stderr, "bench_grpc server: cannot listen on 127.0.0.1:%d\n", o.port);
        return 1;
    }
    std::printf("ready port=%d\n", selected);
    std::fflush(stdout);
    server->Wait();  // until the harness kills us by pid
    return 0;
}

struct Call {
    grpc::ClientContext ctx;
    nnbench::EchoMessage reply;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<nnbench::EchoMessage>> reader;
    uint64_t start_ns = 0;
};

int RunClient(const Options &o) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    if (o.certs.empty()) {
        creds = grpc::InsecureChannelCredentials();
    } else {
        grpc::SslCredentialsOptions co;
        if (!ReadFile(o.certs + "/ca.pem", &co.pem_root_certs) ||
            !ReadFile(o.certs + "/n2-key.pem", &co.pem_private_key) ||
            !ReadFile(o.certs + "/n2-cert.pem", &co.pem_cert_chain)) {
            return 1;
        }
        creds = grpc::SslCredentials(co);
        args.SetSslTargetNameOverride("n1");  // the node we dial, as the mesh checks it
    }
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(o.port), creds, args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
        std::fprintf(stderr, "bench_grpc client: cannot connect to 127.0.0.1:%d\n", o.port);
        return 1;
    }
    std::unique_ptr<nnbench::Echo::Stub> stub = nnbench::Echo::NewStub(channel);
    nnbench::EchoMessage request;
    std::string payload(o.size, '\0');
    for (size_t i = 0; i < o.size; i++) {
        payload[i] = static_cast<char>(i % 251);
    }
    request.set_payload(payload);

    grpc::CompletionQueue cq;
    auto start = [&](uint64_t now) {
        Call *c = new Call;
        c->start_ns = now;
        c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        c->reader = stub->PrepareAsyncEcho(&c->ctx, request, &cq);
        c->reader->StartCall();
        c->reader->Finish(&c->reply, &c->status, c);
    };
    std::vector<uint32_t> lat_us;
    lat_us.reserve(1 << 16);
    uint64_t t0 = NowNs();
    uint64_t until = t0 + static_cast<uint64_t>(o.seconds * 1e9);
    int outstanding = 0;
    for (int i = 0; i < o.inflight; i++) {
        start(t0);
        outstanding++;
    }
    long errors = 0;
    std::string first_error;
    while (outstanding > 0) {
        void *tag = nullptr;
        bool ok = false;
        if (!cq.Next(&tag, &ok)) {
            break;
        }
        Call *c = static_cast<Call *>(tag);
        outstanding--;
        uint64_t now = NowNs();
        if (!ok || !c->status.ok() || c->reply.payload() != payload) {
            if (errors++ == 0) {
                first_error = c->status.ok() ? "reply differs from the request"
                                             : c->status.error_message();
            }
        } else {
            lat_us.push_back(static_cast<uint32_t>((now - c->start_ns) / 1000));
        }
        delete c;
        if (now < until && errors == 0) {
            start(now);
            outstanding++;
        }
    }
    double elapsed = static_cast<double>(NowNs() - t0) / 1e9;
    cq.Shutdown();
    void *tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    if (errors > 0 || lat_us.empty()) {
        std::fprintf(stderr, "bench_grpc client: %ld errors, first: %s\n", errors,
                     first_error.empty() ? "no call completed" : first_error.c_str());
        return 1;
    }
    std::sort(lat_us.begin(), lat_us.end());
    size_t n = lat_us.size();
    double calls_s = static_cast<double>(n) / elapsed;
    std::printf("ok calls=%zu calls_s=%.1f p50_us=%u p99_us=%u mib_s=%.1f\n", n, calls_s,
                lat_us[n / 2], lat_us[n * 99 / 100],
                calls_s * 2.0 * static_cast<double>(o.size) / (1024.0 * 1024.0));
    return 0;
}

int Usage() {
    std::fprintf(stderr, "usage: bench_grpc server|client --port P [--certs DIR] "
                         "[--size BYTES] [--inflight N] [--seconds S]\n");
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        return Usage();
    }
    Options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            std::fprintf(stderr, "bench_grpc: %s needs a value\n", argv[i]);
            return 2;
        }
        std::string k = argv[i];
        const char *v = argv[i + 1];
        if (k == "--port") {
            o.port = std::atoi(v);
        } else if (k == "--certs") {
            o.certs = v;
        } else if (k == "--size") {
            o.size = static_cast<size_t>(std::atol(v));
        } else if (k == "--inflight") {
            o.inflight = std::atoi(v);
        } else if (k == "--seconds") {
            o.seconds = std::atof(v);
        } else {
            std::fprintf(stderr, "bench_grpc: unknown option %s\n", k.c_str());
            return Usage();
        }
    }
    if (o.port < 0 || o.port > 65535 || o.inflight < 1 || o.inflight > 4096 ||
        o.seconds <= 0 || o.size > (64u << 20)) {
        std::fprintf(stderr, "bench_grpc: option out of range\n");
        return 2;
    }
    if (o.mode == "server") {
        return RunServer(o);
    }
    if (o.mode == "client") {
        if (o.port == 0) {
            return Usage();
        }
        return RunClient(o);
    }
    return Usage();
}

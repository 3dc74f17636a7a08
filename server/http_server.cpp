#include "server/http_server.h"

#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <optional>
#include <stdexcept>

#include "observability/log.h"
#include "server/http_connection.h"
#include "server/http_screen.h"

namespace tandem {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 512;  // bytes read at a time while waiting; an idle connection holds no more

// Lets this process hold as many sockets as it is allowed (idle keep-alive clients are cheap,
// but each is a file descriptor).
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

struct HttpServer::State {
  HttpLimits limits;
  std::vector<HttpRoute> routes;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> answering{0};  // connections whose answer is being made or written
  std::optional<net::ssl::context> tls;
  net::io_context io;
  tcp::acceptor acceptor{io};

  void accept();
};

namespace {

// One connection: reads requests one after another and writes their answers. Every member
// is touched only on the connection's strand.
template <class Stream>
class Session : public HttpConnection, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::State& server, Stream stream, std::string peer)
      : server_(server), limits_(server.limits), stream_(std::move(stream)), peer_(std::move(peer)) {}
  ~Session() override { --server_.connections; }

  // Starts serving on the connection's strand (the caller is not on it).
  void start() {
    net::dispatch(socket().get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

  void send(std::string bytes, bool last, bool keep_alive) override {
    net::post(socket().get_executor(), [self = this->shared_from_this(), bytes = std::move(bytes), last, keep_alive] {
      self->queue(std::move(bytes), last, keep_alive);
    });
  }
  void abort() override {
    net::post(socket().get_executor(), [self = this->shared_from_this()] { self->close(); });
  }
  void on_close(std::function<void()> gone) override {
    net::post(socket().get_executor(), [self = this->shared_from_this(), gone = std::move(gone)]() mutable {
      if (self->closed_ && self->answering_)
        gone();
      else if (self->answering_)
        self->gone_ = std::move(gone);
    });
  }

 private:
  void begin() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      wait_for_request();
    } else {
      arm(limits_.read_timeout_s);
      stream_.async_handshake(net::ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
        if (ec || self->closed_) return self->close();
        self->wait_for_request();
      });
    }
  }

  tcp::socket& socket() { return boost::beast::get_lowest_layer(stream_); }

  // After `seconds` the connection is closed, unless arm() or disarm() is called first.
  void arm(int seconds) {
    const uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(std::chrono::seconds(seconds));
    deadline_.async_wait([self = this->shared_from_this(), generation](error_code ec) {
      if (!ec && generation == self->deadline_generation_) self->close();
    });
  }
  void disarm() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  // Keep-alive: the next request may take idle_timeout_s to begin; bytes already here start it.
  void wait_for_request() {
    if (closed_) return;
    if (buffer_.size() > 0) return read_header();
    buffer_ = boost::beast::flat_buffer(buffer_limit());  // give back what the last request grew
    arm(limits_.idle_timeout_s);
    read_more();
  }

  size_t buffer_limit() const { return limits_.max_header_bytes + 65536; }

  // Reads what the client sends next into buffer_: the start of its next request, or, while
  // an answer is being made, the end of the connection (a client that has left).
  void read_more() {
    if (reading_ || closed_) return;
    if (buffer_.size() + kReadChunk > buffer_limit()) return;  // a pipelining client: it waits for its turn
    reading_ = true;
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = this->shared_from_this()](error_code ec, size_t n) {
      self->reading_ = false;
      if (self->closed_) return;
      // cancelled by finish_answer: a pipelined request waits in buffer_
      if (ec == net::error::operation_aborted && !self->answering_ && !self->draining_) return self->read_header();
      if (ec) return self->close();
      self->buffer_.commit(n);
      if (self->draining_) self->buffer_.clear();
      if (self->answering_ || self->draining_)
        self->read_more();
      else
        self->read_header();
    });
  }

  void read_header() {
    if (closed_) return;
    parser_.emplace();
    limit_parser(*parser_, limits_);
    request_ = HttpRequest{};
    arm(limits_.read_timeout_s);  // the whole header, however slowly it comes
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (closed_) return;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return refuse(431, "the request header is larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit) return refuse_too_large();
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset)
      return close();
    if (ec) return refuse(400, "malformed HTTP request: " + ec.message());
    HttpScreening screening = screen_request(*parser_, server_.routes, limits_);
    request_ = std::move(screening.request);
    request_.peer = peer_;
    route_ = screening.route;
    if (screening.status) return refuse(screening.status, screening.reason, std::move(screening.fields));
    if (!screening.read_body) return dispatch();
    if (boost::beast::iequals(parser_->get()[http::field::expect], "100-continue"))
      queue("HTTP/1.1 100 Continue\r\n\r\n", false, true);
    read_body();
  }

  bool body_pending() const {
    return parser_->chunked() || (parser_->content_length() && *parser_->content_length() > 0);
  }

  void read_body() {
    arm(limits_.read_timeout_s);  // the whole body
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](error_code ec, size_t) {
      if (self->closed_) return;
      if (ec == http::error::body_limit) return self->refuse_too_large();
      if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset)
        return self->close();
      if (ec) return self->refuse(400, "malformed HTTP request body: " + ec.message());
      self->request_.body = std::move(self->parser_->get().body());
      self->dispatch();
    });
  }

  void refuse_too_large() {
    refuse(413, "the body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
  }

  // Answers with an error before the handler would; a body not read closes the connection.
  void refuse(int status, const std::string& message, std::vector<std::pair<std::string, std::string>> fields = {}) {
    if (closed_) return;
    log_event(status == 401 ? LogLevel::warn : LogLevel::info, "http_refused",
              {{"status", status}, {"path", request_.path}, {"peer", peer_}, {"reason", message}});
    const bool keep_alive = parser_ && parser_->is_header_done() && parser_->get().keep_alive() && !body_pending() &&
                            status != 400 && status != 431;
    begin_answer();
    queue(format_http_reply(status, http_error_body(message, "invalid_request_error"), "application/json", fields,
                            keep_alive),
          true, keep_alive);
  }

  void begin_answer() {
    disarm();
    set_answering(true);
    read_more();  // to notice at once a client that leaves before its answer
  }

  void dispatch() {
    const bool keep_alive = parser_->get().keep_alive();
    begin_answer();
    auto exchange = std::make_shared<HttpExchange>(this->shared_from_this(), std::move(request_), keep_alive);
    try {
      route_->handler(std::move(exchange));
    } catch (const std::exception& e) {
      log_event(LogLevel::error, "http_internal_error", {{"path", route_->path}, {"error", e.what()}});
    }  // the exchange, if dropped, answers 500
  }

  void queue(std::string bytes, bool last, bool keep_alive) {
    if (closed_ || finishing_) return;
    if (last) {
      finishing_ = true;
      keep_alive_ = keep_alive;
    }
    // A stream whose client reads slower than it is written: drop the client, not the server's memory.
    if (writing_ && queued_bytes_ + bytes.size() > limits_.max_stream_backlog_bytes) {
      log_event(LogLevel::info, "http_dropped", {{"peer", peer_}, {"reason", "the client reads too slowly"}});
      return close();
    }
    queued_bytes_ += bytes.size();
    out_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (out_.empty()) {
      if (answering_) disarm();
      if (finishing_) finish_answer();
      return;
    }
    writing_ = true;
    queued_bytes_ -= out_.front().size();
    if (answering_) arm(limits_.read_timeout_s);  // a client that does not read is dropped
    net::async_write(stream_, net::buffer(out_.front()), [self = this->shared_from_this()](error_code ec, size_t) {
      self->writing_ = false;
      if (self->closed_) return;  // out_ is gone
      if (ec) return self->close();
      self->out_.pop_front();
      self->write_next();
    });
  }

  void finish_answer() {
    set_answering(false);
    finishing_ = false;
    gone_ = nullptr;
    parser_.reset();
    if (!keep_alive_) return linger();
    if (!reading_)
      wait_for_request();
    else if (buffer_.size() > 0)
      socket().cancel();  // the next request is here already: stop waiting for more, read it
    else
      arm(limits_.idle_timeout_s);  // the read already waiting is the wait for the next request
  }

  // Ends a connection whose client may still be sending (a refused body): the answer goes out
  // with a FIN, and what the client still sends is read and dropped for a moment, so that the
  // kernel does not reset the connection and lose the answer before the client reads it.
  void linger() {
    draining_ = true;
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    arm(1);
    read_more();
  }

  // Counted in the server's answers in progress, which stop() lets finish.
  void set_answering(bool answering) {
    if (answering != answering_ && !closed_) answering ? ++server_.answering : --server_.answering;
    answering_ = answering;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (answering_) --server_.answering;  // answering_ stays set: on_close still tells the exchange
    disarm();
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    if (auto gone = std::move(gone_)) gone();
  }

  HttpServer::State& server_;
  const HttpLimits& limits_;
  Stream stream_;
  std::string peer_;
  net::steady_timer deadline_{socket().get_executor()};
  uint64_t deadline_generation_ = 0;
  boost::beast::flat_buffer buffer_;
  std::optional<HttpParser> parser_;
  HttpRequest request_;
  const HttpRoute* route_ = nullptr;
  std::deque<std::string> out_;
  size_t queued_bytes_ = 0;  // in out_, not counting the piece being written
  bool reading_ = false, writing_ = false, answering_ = false, finishing_ = false, keep_alive_ = true, closed_ = false,
       draining_ = false;
  std::function<void()> gone_;
};

}  // namespace

void HttpServer::State::accept() {
  acceptor.async_accept(net::make_strand(io), [this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {  // out of file descriptors, say: try again shortly rather than spin
      log_event(LogLevel::warn, "http_accept_failed", {{"error", ec.message()}});
      auto retry = std::make_shared<net::steady_timer>(io, std::chrono::milliseconds(100));
      retry->async_wait([this, retry](error_code) { accept(); });
      return;
    }
    if (connections >= limits.max_connections) {
      error_code ignored;
      socket.close(ignored);
    } else {
      ++connections;
      error_code peer_error;
      if (limits.send_buffer_bytes > 0)  // else the kernel's autotuning (up to net.ipv4.tcp_wmem's maximum)
        socket.set_option(net::socket_base::send_buffer_size(int(limits.send_buffer_bytes)), peer_error);
      const auto remote = socket.remote_endpoint(peer_error);
      std::string peer = peer_error ? "?" : remote.address().to_string();
      if (tls)
        std::make_shared<Session<net::ssl::stream<tcp::socket>>>(
            *this, net::ssl::stream<tcp::socket>(std::move(socket), *tls), std::move(peer))
            ->start();
      else
        std::make_shared<Session<tcp::socket>>(*this, std::move(socket), std::move(peer))->start();
    }
    accept();
  });
}

HttpServer::HttpServer(const std::string& host, int port, HttpLimits limits, std::vector<HttpRoute> routes)
    : state_(std::make_shared<State>()) {
  state_->limits = std::move(limits);
  state_->routes = std::move(routes);
  const HttpLimits& l = state_->limits;
  if (!l.tls_cert_file.empty() || !l.tls_key_file.empty()) {
    if (l.tls_cert_file.empty() || l.tls_key_file.empty())
      throw std::invalid_argument("an HTTPS certificate needs its key, and a key its certificate");
    state_->tls.emplace(net::ssl::context::tls_server);
    state_->tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                             net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    error_code ec;
    state_->tls->use_certificate_chain_file(l.tls_cert_file, ec);
    if (!ec) state_->tls->use_private_key_file(l.tls_key_file, net::ssl::context::pem, ec);
    if (ec)
      throw std::invalid_argument(l.tls_cert_file + " and " + l.tls_key_file +
                                  ": not a PEM certificate and its private key");
  }
  raise_open_file_limit();
  error_code ec;
  const auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  tcp::acceptor& acceptor = state_->acceptor;
  if (!ec) acceptor.open(address.is_v6() ? tcp::v6() : tcp::v4(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind({address, uint16_t(port)}, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen for HTTP on " + host + ":" + std::to_string(port) + ": " + ec.message());
  state_->accept();
  for (int i = 0; i < std::max(1, l.threads); ++i) threads_.emplace_back([state = state_] { state->io.run(); });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (threads_.empty()) return;
  // Answers under way get a moment to be written (a stream's last events after a drain).
  net::post(state_->io, [state = state_.get()] {
    error_code ignored;
    state->acceptor.close(ignored);
  });
  for (int i = 0; i < 40 && state_->answering > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  state_->io.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

int HttpServer::port() const { return state_->acceptor.local_endpoint().port(); }
const char* HttpServer::scheme() const { return state_->tls ? "https" : "http"; }

}  // namespace tandem

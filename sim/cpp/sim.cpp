#include "glovebox-sim/cpp/sim.h"
#include "models.inc"
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace glovebox_sim {

namespace {

template <class V> void tick(V &top) {
  top.clk = 1;
  top.eval();
  top.clk = 0;
  top.eval();
}

// Lane l of a packed [C-1:0][63:0] port is 32-bit words 2l (low) and 2l + 1 (high).
template <class W> void put_lane(W &port, size_t l, uint64_t v) {
  port[2 * l] = static_cast<uint32_t>(v);
  port[2 * l + 1] = static_cast<uint32_t>(v >> 32);
}
template <class W> uint64_t get_lane(const W &port, size_t l) {
  return static_cast<uint64_t>(port[2 * l]) | (static_cast<uint64_t>(port[2 * l + 1]) << 32);
}

template <class V, uint32_t C> class NttModel final : public NttSim {
public:
  explicit NttModel(uint32_t n) : n_(n), ctx_(new VerilatedContext), top_(new V{ctx_.get()}) {
    reset();
  }
  ~NttModel() override { top_->final(); }
  uint32_t n() const override { return n_; }
  uint32_t c() const override { return C; }
  uint32_t latency() const override { return top_->latency; }
  uint64_t cycles() const override { return cycles_; }

  void reset() override {
    top_->rst = 1;
    top_->in_valid = 0;
    for (int i = 0; i < 4; i++) step();
    top_->rst = 0;
  }

  uint64_t stream(rust::Slice<const uint64_t> input, bool inverse, rust::Slice<uint64_t> output,
                  rust::Slice<uint64_t> latencies) override {
    const size_t n = n_, words = n / C, polys = input.size() / n;
    if (input.size() % n != 0 || output.size() != input.size() || latencies.size() != polys)
      throw std::invalid_argument("NTT stream: sizes do not match whole polynomials");
    reset();
    const uint64_t start = cycles_;
    const uint64_t bound = top_->latency + polys * words + 64;
    size_t in_chunk = 0, out_chunk = 0;
    const size_t chunks = polys * words;
    while (out_chunk < chunks) {
      if (cycles_ - start > bound)
        throw std::runtime_error("NTT unit: no output within " + std::to_string(bound) +
                                 " cycles");
      if (in_chunk < chunks) {
        top_->in_valid = 1;
        top_->in_inverse = inverse;
        for (size_t l = 0; l < C; l++) put_lane(top_->in_data, l, input[in_chunk * C + l]);
        in_chunk++;
      } else {
        top_->in_valid = 0;
      }
      step();
      // After the edge of cycle t the registered outputs belong to cycle t + 1.
      if (top_->out_valid) {
        if (out_chunk % words == 0) {
          const size_t p = out_chunk / words;
          latencies[p] = (cycles_ - start) - p * words;
        }
        for (size_t l = 0; l < C; l++) output[out_chunk * C + l] = get_lane(top_->out_data, l);
        out_chunk++;
      }
    }
    return cycles_ - start;
  }

private:
  void step() {
    tick(*top_);
    cycles_++;
  }
  uint32_t n_;
  uint64_t cycles_ = 0;
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<V> top_;
};

template <class V> struct Unit {
  Unit() : ctx(new VerilatedContext), top(new V{ctx.get()}) {}
  ~Unit() { top->final(); }
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<V> top;
};

void check_sizes(size_t a, size_t b, const char *what) {
  if (a != b) throw std::invalid_argument(std::string(what) + ": slices of different lengths");
}

} // namespace

std::unique_ptr<NttSim> new_ntt_sim(uint32_t n, uint32_t c) {
#include "ntt_factory.inc"
  return nullptr;
}

rust::Vec<uint32_t> ntt_configs() {
  rust::Vec<uint32_t> v;
  for (auto nc : std::vector<std::pair<uint32_t, uint32_t>>{
#include "ntt_configs.inc"
       }) {
    v.push_back(nc.first);
    v.push_back(nc.second);
  }
  return v;
}

namespace {

// Streams `count` inputs through a unit of fixed `latency`, one per cycle: `feed(top, t)`
// drives input t (or idles the inputs when t >= count), `read(top, i)` stores output i from
// the ports once the pipeline delivers it. Returns the cycles from the first input to the last
// output.
template <class V, class Feed, class Read>
uint64_t stream_unit(size_t count, size_t latency, Feed feed, Read read) {
  Unit<V> u;
  for (size_t t = 0; t < count + latency; t++) {
    feed(*u.top, t);
    tick(*u.top);
    if (t + 1 >= latency && t + 1 - latency < count) read(*u.top, t + 1 - latency);
  }
  return count + latency - 1;
}

} // namespace

uint64_t mod_mul_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                        rust::Slice<uint64_t> y) {
  const size_t count = a.size();
  check_sizes(count, b.size(), "mod_mul");
  check_sizes(count, y.size(), "mod_mul");
  return stream_unit<Vmod_mul>(
      count, 4,
      [&](Vmod_mul &top, size_t t) {
        top.a = t < count ? a[t] : 0;
        top.b = t < count ? b[t] : 0;
      },
      [&](Vmod_mul &top, size_t i) { y[i] = top.y; });
}

uint64_t mod_shift_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint8_t> e,
                          rust::Slice<uint64_t> y) {
  const size_t count = a.size();
  check_sizes(count, e.size(), "mod_shift");
  check_sizes(count, y.size(), "mod_shift");
  return stream_unit<Vmod_shift>(
      count, 3,
      [&](Vmod_shift &top, size_t t) {
        top.a = t < count ? a[t] : 0;
        top.e = t < count ? e[t] : 0;
      },
      [&](Vmod_shift &top, size_t i) { y[i] = top.y; });
}

uint64_t butterfly_stream(bool inverse, rust::Slice<const uint64_t> u_in,
                          rust::Slice<const uint64_t> v_in, rust::Slice<const uint64_t> w_in,
                          rust::Slice<uint64_t> x, rust::Slice<uint64_t> y) {
  const size_t count = u_in.size();
  for (size_t len : {v_in.size(), w_in.size(), x.size(), y.size()})
    check_sizes(count, len, "butterfly");
  return stream_unit<Vbutterfly>(
      count, 6,
      [&](Vbutterfly &top, size_t t) {
        top.inverse = inverse;
        top.u = t < count ? u_in[t] : 0;
        top.v = t < count ? v_in[t] : 0;
        top.w = t < count ? w_in[t] : 0;
      },
      [&](Vbutterfly &top, size_t i) {
        x[i] = top.x;
        y[i] = top.y;
      });
}

uint64_t butterfly_shift_stream(rust::Slice<const uint64_t> u_in, rust::Slice<const uint64_t> v_in,
                                rust::Slice<const uint8_t> e_in, rust::Slice<uint64_t> x,
                                rust::Slice<uint64_t> y) {
  const size_t count = u_in.size();
  for (size_t len : {v_in.size(), e_in.size(), x.size(), y.size()})
    check_sizes(count, len, "butterfly_shift");
  return stream_unit<Vbutterfly_shift>(
      count, 4,
      [&](Vbutterfly_shift &top, size_t t) {
        top.u = t < count ? u_in[t] : 0;
        top.v = t < count ? v_in[t] : 0;
        top.e = t < count ? e_in[t] : 0;
      },
      [&](Vbutterfly_shift &top, size_t i) {
        x[i] = top.x;
        y[i] = top.y;
      });
}

uint32_t mac_lanes() { return GLOVEBOX_MAC_LANES; }

uint64_t mac_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                    rust::Slice<const uint64_t> c, rust::Slice<uint64_t> y) {
  const size_t lanes = GLOVEBOX_MAC_LANES, count = a.size();
  check_sizes(count, b.size(), "mac");
  check_sizes(count, c.size(), "mac");
  check_sizes(count, y.size(), "mac");
  if (count % lanes != 0) throw std::invalid_argument("mac: length is not a multiple of the lanes");
  Unit<Vmac_unit> u;
  u.top->rst = 1;
  tick(*u.top);
  u.top->rst = 0;
  const size_t groups = count / lanes;
  size_t out = 0, t = 0;
  const uint64_t start = 0;
  for (; out < groups; t++) {
    if (t > groups + 64) throw std::runtime_error("mac unit: no output");
    const bool valid = t < groups;
    u.top->in_valid = valid;
    for (size_t l = 0; l < lanes; l++) {
      put_lane(u.top->a, l, valid ? a[t * lanes + l] : 0);
      put_lane(u.top->b, l, valid ? b[t * lanes + l] : 0);
      put_lane(u.top->c, l, valid ? c[t * lanes + l] : 0);
    }
    tick(*u.top);
    if (u.top->out_valid) {
      for (size_t l = 0; l < lanes; l++) y[out * lanes + l] = get_lane(u.top->y, l);
      out++;
    }
  }
  return t - start;
}

} // namespace glovebox_sim

#include "glovebox-sim/cpp/sim.h"
#include "glovebox-sim/src/lib.rs.h"
#include "glovebox-sim/cpp/progress.h"
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

// A fresh model, reset for two cycles with its inputs idle.
template <class V> void reset_unit(V &top) {
  top.rst = 1;
  top.in_valid = 0;
  for (int i = 0; i < 2; i++) tick(top);
  top.rst = 0;
}

// A model's `latency` port (a constant: one evaluation sets it).
template <class V> uint32_t latency_port() {
  Unit<V> u;
  u.top->eval();
  return u.top->latency;
}

// Streams `count` inputs through a unit, one per cycle with in_valid high: `feed(top, t)` drives
// input t's data (t < count), `read(top, i)` stores output i from the ports. Output i is taken
// on the cycle out_valid comes with it, and that cycle, counted from the cycle input 0 was
// presented, goes to arrivals[i]. Returns the cycle of the last output. The bound (the model's
// latency port plus the inputs plus a margin) only stops a unit that never answers.
template <class V, class Feed, class Read>
uint64_t stream_unit(size_t count, rust::Slice<uint64_t> arrivals, Feed feed, Read read) {
  check_sizes(count, arrivals.size(), "unit stream (arrivals)");
  Unit<V> u;
  V &top = *u.top;
  reset_unit(top);
  const uint64_t bound = uint64_t{top.latency} + count + 64;
  uint64_t t = 0;
  for (size_t out = 0; out < count;) {
    if (t > bound)
      throw std::runtime_error("unit: " + std::to_string(out) + " of " + std::to_string(count) +
                               " outputs within " + std::to_string(bound) + " cycles");
    top.in_valid = t < count;
    if (t < count) feed(top, t);
    tick(top);
    t++;
    // After the edge ending cycle t - 1 the registered outputs are those of cycle t.
    if (top.out_valid) {
      arrivals[out] = t;
      read(top, out);
      out++;
    }
  }
  return t;
}

} // namespace

RtlConstants rtl_constants() {
  RtlConstants k;
  k.mod_mul = latency_port<Vmod_mul>();
  k.mod_shift = latency_port<Vmod_shift>();
  k.butterfly = latency_port<Vbutterfly>();
  k.butterfly_shift = latency_port<Vbutterfly_shift>();
  k.mac = latency_port<Vmac_unit>();
  Unit<Vgoldilocks_consts> consts;
  consts.top->eval();
  k.shift_stages = consts.top->shift_stages;
  return k;
}

uint64_t mod_mul_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                        rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals) {
  const size_t count = a.size();
  check_sizes(count, b.size(), "mod_mul");
  check_sizes(count, y.size(), "mod_mul");
  return stream_unit<Vmod_mul>(
      count, arrivals,
      [&](Vmod_mul &top, size_t t) {
        top.a = a[t];
        top.b = b[t];
      },
      [&](Vmod_mul &top, size_t i) { y[i] = top.y; });
}

uint64_t mod_shift_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint8_t> e,
                          rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals) {
  const size_t count = a.size();
  check_sizes(count, e.size(), "mod_shift");
  check_sizes(count, y.size(), "mod_shift");
  return stream_unit<Vmod_shift>(
      count, arrivals,
      [&](Vmod_shift &top, size_t t) {
        top.a = a[t];
        top.e = e[t];
      },
      [&](Vmod_shift &top, size_t i) { y[i] = top.y; });
}

uint64_t butterfly_stream(bool inverse, rust::Slice<const uint64_t> u_in,
                          rust::Slice<const uint64_t> v_in, rust::Slice<const uint64_t> w_in,
                          rust::Slice<uint64_t> x, rust::Slice<uint64_t> y,
                          rust::Slice<uint64_t> arrivals) {
  const size_t count = u_in.size();
  for (size_t len : {v_in.size(), w_in.size(), x.size(), y.size()})
    check_sizes(count, len, "butterfly");
  return stream_unit<Vbutterfly>(
      count, arrivals,
      [&](Vbutterfly &top, size_t t) {
        top.inverse = inverse;
        top.u = u_in[t];
        top.v = v_in[t];
        top.w = w_in[t];
      },
      [&](Vbutterfly &top, size_t i) {
        x[i] = top.x;
        y[i] = top.y;
      });
}

uint64_t butterfly_shift_stream(rust::Slice<const uint64_t> u_in, rust::Slice<const uint64_t> v_in,
                                rust::Slice<const uint8_t> e_in, rust::Slice<uint64_t> x,
                                rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals) {
  const size_t count = u_in.size();
  for (size_t len : {v_in.size(), e_in.size(), x.size(), y.size()})
    check_sizes(count, len, "butterfly_shift");
  return stream_unit<Vbutterfly_shift>(
      count, arrivals,
      [&](Vbutterfly_shift &top, size_t t) {
        top.u = u_in[t];
        top.v = v_in[t];
        top.e = e_in[t];
      },
      [&](Vbutterfly_shift &top, size_t i) {
        x[i] = top.x;
        y[i] = top.y;
      });
}

uint32_t mac_lanes() { return GLOVEBOX_MAC_LANES; }

uint64_t unit_cycles_simulated() {
  return unit_cycles_counter().load(std::memory_order_relaxed);
}

uint64_t mac_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                    rust::Slice<const uint64_t> c, rust::Slice<uint64_t> y,
                    rust::Slice<uint64_t> arrivals) {
  const size_t lanes = GLOVEBOX_MAC_LANES, count = a.size();
  check_sizes(count, b.size(), "mac");
  check_sizes(count, c.size(), "mac");
  check_sizes(count, y.size(), "mac");
  if (count % lanes != 0) throw std::invalid_argument("mac: length is not a multiple of the lanes");
  return stream_unit<Vmac_unit>(
      count / lanes, arrivals,
      [&](Vmac_unit &top, size_t t) {
        for (size_t l = 0; l < lanes; l++) {
          put_lane(top.a, l, a[t * lanes + l]);
          put_lane(top.b, l, b[t * lanes + l]);
          put_lane(top.c, l, c[t * lanes + l]);
        }
      },
      [&](Vmac_unit &top, size_t i) {
        for (size_t l = 0; l < lanes; l++) y[i * lanes + l] = get_lane(top.y, l);
      });
}

} // namespace glovebox_sim

// xgrad's own AVX-512 GEMM (ops/gemm_avx512.cpp) against a plain double-precision loop, for the
// shapes that exercise its edges (partial row blocks, partial column panels, several depth blocks),
// both transposes, alpha and beta; and linear()'s packed copies of a recurrent weight against the
// unpacked product. On a CPU without AVX-512 the kernel is never used and these cases say so.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "../ops/gemm/blas.hpp"
#include "../ops/gemm/linear_cache.hpp"

using namespace xgrad;

namespace {

struct own_gemm_on {  // one BLAS thread (the kernel's condition); restores both settings
    int threads = num_threads();
    bool was = (set_num_threads(1), blas::own_gemm());
    bool ok = blas::set_own_gemm(true);
    ~own_gemm_on() {
        blas::set_own_gemm(was);
        set_num_threads(threads);
    }
};

std::vector<float> filled(std::size_t n, unsigned seed) {
    std::vector<float> v(n);
    unsigned s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = float(int(s >> 9) % 2001 - 1000) / 1000.0f;
    }
    return v;
}

// Largest |got − want| over C, against a double loop of C = alpha·op(A)·op(B) + beta·C.
double max_error(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, float beta, bool packed) {
    const std::size_t lda = ta ? m : k, ldb = tb ? k : n;
    const auto a = filled(m * k, 1), b = filled(k * n, 2);
    auto c = filled(m * n, 3);
    std::vector<double> want(m * n);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0;
            for (std::size_t p = 0; p < k; ++p)
                s += double(ta ? a[p * lda + i] : a[i * lda + p]) * double(tb ? b[j * ldb + p] : b[p * ldb + j]);
            want[i * n + j] = alpha * s + (beta == 0 ? 0.0 : beta * double(c[i * n + j]));
        }
    if (beta == 0)
        for (auto& x : c) x = NAN;  // beta = 0 must not read C
    if (packed) {
        std::vector<float> bp(blas::packed_size(k, n));
        blas::pack(tb, k, n, b.data(), ldb, bp.data());
        blas::gemm_packed(ta, m, n, k, alpha, a.data(), lda, bp.data(), beta, c.data(), n);
    } else {
        blas::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), n);
    }
    double worst = 0;
    for (std::size_t i = 0; i < m * n; ++i) worst = std::max(worst, std::fabs(double(c[i]) - want[i]));
    return worst;
}

}  // namespace

TEST_CASE("own GEMM: every edge of rows, panels and depth blocks, both transposes, alpha and beta") {
    own_gemm_on on;
    if (!on.ok) {
        MESSAGE("no AVX-512 on this CPU: xgrad's GEMM kernel is not used, nothing to test");
        return;
    }
    for (std::size_t m : {1, 5, 12, 13, 32, 37})
        for (std::size_t n : {1, 15, 16, 17, 32, 33, 50, 100})
            for (std::size_t k : {1, 3, 256, 257, 600})
                for (bool ta : {false, true})
                    for (bool tb : {false, true}) {
                        CAPTURE(m);
                        CAPTURE(n);
                        CAPTURE(k);
                        CAPTURE(ta);
                        CAPTURE(tb);
                        const double tol = 1e-5 * double(k);  // float sums of k products of |x| ≤ 1
                        CHECK(max_error(ta, tb, m, n, k, 1.0f, 0.0f, true) < tol);
                        CHECK(max_error(ta, tb, m, n, k, 1.0f, 1.0f, true) < tol);
                        CHECK(max_error(ta, tb, m, n, k, -0.5f, 2.0f, true) < tol);
                    }
}

TEST_CASE("own GEMM with op(B) larger than L2: both loop orders, the last panel and depth block partial") {
    own_gemm_on on;
    if (!on.ok) return;
    // packed op(B) of 600 × 1000 (2.4 MB): streamed from memory, the next panel asked into L2; a block
    // of it (1 MiB) fits L2, so 60 rows take the row-block-outside order and 13 or 32 the other
    for (std::size_t m : {13, 32, 60})
        for (bool tb : {false, true}) {
            CAPTURE(m);
            CAPTURE(tb);
            CHECK(max_error(false, tb, m, 1000, 600, 1.0f, 1.0f, true) < 1e-5 * 600);
            CHECK(max_error(true, tb, m, 1000, 600, 1.0f, 0.0f, true) < 1e-5 * 600);
        }
}

TEST_CASE("own GEMM from row pointers: Aᵀ·B over rows scattered in several buffers, every edge") {
    own_gemm_on on;
    if (!on.ok) return;
    // k > 512: two passes over C; n · depth past the 1 MiB chunk of packed B: several column chunks
    for (std::size_t m : {1, 12, 13, 37})
        for (std::size_t n : {1, 17, 33, 600})
            for (std::size_t k : {0, 1, 9, 40, 513, 1100})
                for (float beta : {0.0f, 1.0f, 0.5f}) {
                    CAPTURE(m);
                    CAPTURE(n);
                    CAPTURE(k);
                    CAPTURE(beta);
                    // rows of A [k, m] and B [k, n] in blocks of 7 rows, each block its own buffer, in reverse order
                    std::vector<std::vector<float>> blocks_a, blocks_b;
                    std::vector<const float*> ar(k), br(k);
                    for (std::size_t p0 = 0; p0 < k; p0 += 7) {
                        const std::size_t rows = std::min<std::size_t>(7, k - p0);
                        blocks_a.push_back(filled(rows * m, unsigned(10 + p0)));
                        blocks_b.push_back(filled(rows * n, unsigned(20 + p0)));
                    }
                    for (std::size_t p = 0; p < k; ++p) {
                        ar[p] = blocks_a[p / 7].data() + (p % 7) * m;
                        br[p] = blocks_b[p / 7].data() + (p % 7) * n;
                    }
                    auto c = filled(m * n, 3);
                    std::vector<double> want(m * n);
                    for (std::size_t i = 0; i < m; ++i)
                        for (std::size_t j = 0; j < n; ++j) {
                            double s = 0;
                            for (std::size_t p = 0; p < k; ++p) s += double(ar[p][i]) * double(br[p][j]);
                            want[i * n + j] = 1.5 * s + (beta == 0 ? 0.0 : beta * double(c[i * n + j]));
                        }
                    if (beta == 0)
                        for (auto& x : c) x = NAN;  // beta = 0 must not read C
                    blas::gemm_tn_rows(m, n, k, 1.5f, ar.data(), br.data(), beta, c.data(), n);
                    double worst = 0;
                    for (std::size_t i = 0; i < m * n; ++i) worst = std::max(worst, std::fabs(double(c[i]) - want[i]));
                    CHECK(worst < 1e-5 * double(k + 1));
                }
}

TEST_CASE("the own kernel stands aside while BLAS runs more than one thread") {
    own_gemm_on on;
    if (!on.ok) return;
    CHECK(blas::own_gemm());
    set_num_threads(2);
    CHECK(!blas::own_gemm());
    set_num_threads(1);
    CHECK(blas::own_gemm());
}

TEST_CASE("blas::gemm with and without the own kernel agree on the weight-gradient shapes it takes") {
    own_gemm_on on;
    if (!on.ok) return;
    for (std::size_t m : {128, 200, 1024})
        for (std::size_t n : {128, 130})
            for (std::size_t k : {1, 32, 64}) {
                CAPTURE(m);
                CAPTURE(n);
                CAPTURE(k);
                CHECK(max_error(true, false, m, n, k, 1.0f, 1.0f, false) < 1e-5 * double(k));
                CHECK(max_error(false, true, m, n, k, 1.0f, 0.0f, false) < 1e-5 * double(k));
            }
}

TEST_CASE("linear with a recurrent weight of 128 and more: packed copies give the unpacked values and gradients") {
    own_gemm_on on;
    if (!on.ok) return;
    for (int rows : {3, 32}) {
        parameter w(randn({160, 130}, 1, dtype::float32), "w");  // [out, in]: partial panels both ways
        parameter b(randn({160}, 2, dtype::float32), "b");
        std::vector<tensor> xs;
        for (unsigned s = 0; s < 4; ++s) xs.push_back(randn({std::size_t(rows), 130}, 3 + s, dtype::float32));
        auto run = [&](bool own) {
            blas::set_own_gemm(own);
            w.zero_grad();
            b.zero_grad();
            tape t;
            var y = full({std::size_t(rows), 160}, 0.0, dtype::float32);
            for (const tensor& x : xs) y = y + tanh(linear(input(x), w, b));  // uses 2.. run packed
            t.backward(sum(y * y));
            std::vector<double> out;
            for (std::size_t i = 0; i < y.value().size(); ++i) out.push_back(y.value().flat(i));
            for (std::size_t i = 0; i < w.grad().size(); ++i) out.push_back(w.grad().flat(i));
            return out;
        };
        const auto packed = run(true), plain = run(false);
        blas::set_own_gemm(true);
        REQUIRE(packed.size() == plain.size());
        double worst = 0;
        for (std::size_t i = 0; i < plain.size(); ++i)
            worst = std::max(worst, std::fabs(packed[i] - plain[i]) / (1.0 + std::fabs(plain[i])));
        CHECK(worst < 1e-4);
    }
}

TEST_CASE("a packed weight changed between two uses on one tape is re-packed, never read stale") {
    own_gemm_on on;
    if (!on.ok) return;
    parameter w(randn({128, 128}, 1, dtype::float32), "w");
    const tensor x = randn({2, 128}, 2, dtype::float32);
    tape t;
    var a = linear(input(x), w);
    var b = linear(input(x), w);  // second use: packs wᵀ
    w.value().set_flat(0, w.value().flat(0) + 1.0);
    var c = linear(input(x), w);
    CHECK(a.value().flat(0) == doctest::Approx(b.value().flat(0)).epsilon(1e-6));
    CHECK(c.value().flat(0) == doctest::Approx(b.value().flat(0) + x.flat(0)).epsilon(1e-5));
    CHECK(c.value().flat(1) == b.value().flat(1));  // y[0,1] does not read w[0,0]
}

TEST_CASE("an LSTM and a GRU of hidden 128 train the same with the own kernel as with OpenBLAS alone") {
    own_gemm_on on;
    if (!on.ok) return;
    for (const char* cell : {"lstm", "gru"}) {
        CAPTURE(cell);
        std::vector<double> results[2];
        for (bool own : {true, false}) {
            blas::set_own_gemm(own);
            nn::recurrent_options o;
            o.input_size = 3;
            o.hidden_size = 128;  // weights [512 or 384, 128]: packed copies forward and backward
            o.seed = 5;
            std::unique_ptr<nn::recurrent_base> m;
            if (std::string(cell) == "lstm") m = std::make_unique<nn::lstm>(o);
            else m = std::make_unique<nn::gru>(o);
            nn::adam opt(*m, {.lr = 0.01});
            const tensor x = randn({32, 6, 3}, 7, dtype::float32);
            for (int step = 0; step < 3; ++step) {  // Adam changes the weights: the copies must follow
                tape t;
                opt.zero_grad();
                var h = std::string(cell) == "lstm" ? (*static_cast<nn::lstm*>(m.get()))(input(x))
                                                    : (*static_cast<nn::gru*>(m.get()))(input(x));
                var loss = mean(h * h);
                t.backward(loss);
                opt.step();
                results[own ? 0 : 1].push_back(loss.item());
            }
            for (auto& p : m->parameters())
                for (std::size_t i = 0; i < p.value().size(); i += 97) results[own ? 0 : 1].push_back(p.value().flat(i));
        }
        REQUIRE(results[0].size() == results[1].size());
        for (std::size_t i = 0; i < results[0].size(); ++i)
            CHECK(results[0][i] == doctest::Approx(results[1][i]).epsilon(1e-4));
    }
    blas::set_own_gemm(true);
}

TEST_CASE("pack_rows re-packs, strip by strip, exactly what pack makes of the changed rows") {
    own_gemm_on on;
    if (!on.ok) return;
    // W [out, in]; forward copy: op(B) = Wᵀ (k = in, n = out); dX copy: op(B) = W (k = out, n = in)
    for (auto [out, in] : {std::pair<std::size_t, std::size_t>{160, 130}, {300, 257}, {64, 600}, {520, 40}})
        for (bool tb : {true, false})
            for (std::size_t strip : {32, 64})
                for (int variant = 0; variant < 4; ++variant) {
                    // streamed stores need a 64-byte aligned copy (unaligned: plain stores all the same)
                    const bool stream = variant & 1, aligned = variant & 2;
                    CAPTURE(stream);
                    CAPTURE(out);
                    CAPTURE(in);
                    CAPTURE(tb);
                    CAPTURE(strip);
                    CAPTURE(aligned);
                    const std::size_t k = tb ? in : out, n = tb ? out : in, size = blas::packed_size(k, n);
                    const auto w_old = filled(out * in, 4), w_new = filled(out * in, 5);
                    tensor buf = tensor::empty({size + 16}, dtype::float32);  // 64-byte aligned storage
                    float* bp = buf.data<float>() + (aligned ? 0 : 1);
                    blas::pack(tb, k, n, w_old.data(), in, bp);
                    for (std::size_t r0 = 0; r0 < out; r0 += strip)
                        blas::pack_rows(tb, k, n, w_new.data(), in, bp, r0, std::min(out, r0 + strip), stream);
                    std::vector<float> want(size);
                    blas::pack(tb, k, n, w_new.data(), in, want.data());
                    std::size_t differ = 0;
                    for (std::size_t i = 0; i < size; ++i) differ += bp[i] != want[i];
                    CHECK(differ == 0);
                }
}

TEST_CASE("optimizer steps keep a recurrent weight's packed copies current: bit for bit a fresh pack") {
    own_gemm_on on;
    if (!on.ok) return;
    for (const char* opt_name : {"adam", "sgd", "rmsprop"}) {
        CAPTURE(opt_name);
        std::vector<double> losses[2];
        for (bool keep : {true, false}) {
            nn::recurrent_options o;
            o.input_size = 3;
            o.hidden_size = 128;  // weight_hh [512, 128]: packed copies forward and backward
            o.seed = 5;
            nn::lstm m(o);
            std::unique_ptr<nn::optimizer> opt;
            if (std::string(opt_name) == "adam") opt = std::make_unique<nn::adam>(m, nn::adam_options{.lr = 0.01});
            else if (std::string(opt_name) == "sgd")
                opt = std::make_unique<nn::sgd>(m, nn::sgd_options{.lr = 0.1, .momentum = 0.9});
            else opt = std::make_unique<nn::rmsprop>(m, nn::rmsprop_options{.lr = 0.01});
            const tensor x = randn({32, 5, 3}, 7, dtype::float32);
            tape t;
            for (int step = 0; step < 4; ++step) {
                if (!keep)  // a mutable access to the value: the copies are made again from it
                    for (auto& p : m.parameters()) (void)p.value();
                t.clear();
                opt->zero_grad();
                var h = m(input(x));
                var loss = mean(h * h);
                t.backward(loss);
                opt->step();
                losses[keep ? 0 : 1].push_back(loss.item());
                if (!keep) continue;
                for (auto& p : m.parameters()) {
                    param_state& s = *p.state_ptr();
                    if (p.shape().size() != 2 || p.shape()[1] != 128) continue;  // weight_hh_l0 [512, 128]
                    REQUIRE(s.updated_in_place);
                    const gemm::linear_cache* cache = gemm::cache_of(s);
                    REQUIRE(cache);
                    REQUIRE(cache->fwd.version == s.version);
                    REQUIRE(cache->bwd.version == s.version);
                    const std::size_t out = p.shape()[0], in = p.shape()[1];
                    const float* w = s.value.data<float>();
                    std::vector<float> fwd(blas::packed_size(in, out)), bwd(blas::packed_size(out, in));
                    blas::pack(true, in, out, w, in, fwd.data());
                    blas::pack(false, out, in, w, in, bwd.data());
                    REQUIRE(cache->fwd.data.size() == fwd.size());
                    REQUIRE(cache->bwd.data.size() == bwd.size());
                    std::size_t differ = 0;
                    for (std::size_t i = 0; i < fwd.size(); ++i) differ += cache->fwd.data.data<float>()[i] != fwd[i];
                    for (std::size_t i = 0; i < bwd.size(); ++i) differ += cache->bwd.data.data<float>()[i] != bwd[i];
                    CHECK(differ == 0);
                }
            }
        }
        CHECK(losses[0] == losses[1]);  // the same copies, so bit for bit the same training
    }
}

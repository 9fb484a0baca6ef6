// The tensor step's fused kernels (src/model/tensor_ops.rs says what each computes; its CPU
// versions, which the tests run, use the same formulas in the same order). One thread per
// element; build.rs compiles this file to PTX when the `cuda` feature is on.

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float log1p_of(float x) { return log1pf(x); }
__device__ __forceinline__ double log1p_of(double x) { return log1p(x); }
__device__ __forceinline__ float abs_of(float x) { return fabsf(x); }
__device__ __forceinline__ double abs_of(double x) { return fabs(x); }

// The error at the hidden layer's pre-activations, row r and unit j:
// out[r][j] = (sum_k d2[r][k] w2[k][j]) * a[r][j] * (1 - a[r][j]), with d2 rows x 10 (the
// output errors), w2 10 x hidden (the output weights without their bias) and a the hidden
// activations. K = 10 is too small for a GEMM to pay: this reads a and writes out once.
template <typename T>
__device__ void hidden_error(const T* d2, const T* w2, const T* a, T* out, unsigned int elements,
                             unsigned int hidden) {
  unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < elements) {
    unsigned int r = i / hidden, j = i - r * hidden;
    const T* d = d2 + (size_t)r * 10;
    T back = T(0);
#pragma unroll
    for (int k = 0; k < 10; ++k) back += d[k] * w2[k * hidden + j];
    T ai = a[i];
    out[i] = (back * ai) * (T(1) - ai);
  }
}

// From pre-activations z and targets y (n elements each): out[0..n) = sigmoid(z) - y, the
// output errors, and out[n..2n) = softplus(z) - y z, the cost terms. With e = exp(-|z|):
// softplus(z) = max(z, 0) + log1p(e), sigmoid(z) = 1 / (1 + e) for z >= 0, e / (1 + e) else.
template <typename T>
__device__ void output_layer(const T* z, const T* y, T* out, unsigned int n) {
  unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    T zi = z[i], yi = y[i];
    T e = exp_of(-abs_of(zi));
    T inv = T(1) / (T(1) + e);
    out[i] = (zi >= T(0) ? inv : e * inv) - yi;
    out[n + i] = ((zi > T(0) ? zi : T(0)) + log1p_of(e)) - yi * zi;
  }
}

extern "C" __global__ void hidden_error_f32(const float* d2, const float* w2, const float* a, float* out,
                                            unsigned int elements, unsigned int hidden) {
  hidden_error(d2, w2, a, out, elements, hidden);
}
extern "C" __global__ void hidden_error_f64(const double* d2, const double* w2, const double* a, double* out,
                                            unsigned int elements, unsigned int hidden) {
  hidden_error(d2, w2, a, out, elements, hidden);
}
extern "C" __global__ void output_layer_f32(const float* z, const float* y, float* out, unsigned int n) {
  output_layer(z, y, out, n);
}
extern "C" __global__ void output_layer_f64(const double* z, const double* y, double* out, unsigned int n) {
  output_layer(z, y, out, n);
}

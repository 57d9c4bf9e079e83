// oneDNN (Debian libdnnl-dev): the bf16 matmul backend of the frozen base's products.
#include <oneapi/dnnl/dnnl.h>

/* vt_compose.c — binary search in the generated composition table. */
#include "vt_compose.h"

#include <stddef.h>

struct vt_compose_entry {
	uint32_t base;
	uint16_t mark;
	uint32_t composed;
};

#include "vt_compose_table.h"

uint32_t vt_compose(uint32_t base, uint32_t mark)
{
	size_t lo = 0, hi = VT_COMPOSE_COUNT;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vt_compose_entry *e = &vt_compose_table[mid];
		if (e->base == base && e->mark == mark)
			return e->composed;
		if (e->base < base || (e->base == base && e->mark < mark))
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

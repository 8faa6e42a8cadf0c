/*
 * vt_compose.h — canonical composition of a base character and a combining
 * mark (U+0300-U+036F) into its precomposed form, e.g. "e" + U+0301 → "é".
 * libtsm 4.0.2 drops combining marks; the pre-filter composes them first.
 * Pure lookup, no allocation.
 */
#ifndef VT_COMPOSE_H
#define VT_COMPOSE_H

#include <stdint.h>

/* The precomposed character, or 0 when Unicode has none for the pair. */
uint32_t vt_compose(uint32_t base, uint32_t mark);

#endif

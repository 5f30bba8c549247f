/* SPDX-License-Identifier: MIT */
/*
 * PIV facts shared by the driver and the virtual key: key references and
 * the data objects that hold their certificates (SP 800-73-4 part 1,
 * table 3 and table 4b). Pure functions.
 */
#ifndef UK_PIV_H
#define UK_PIV_H

#include <stdbool.h>
#include <stdint.h>

/* The certificate object of a key slot: 9A → 5FC105, 9C → 5FC10A,
 * 9D → 5FC10B, 9E → 5FC101, 82..95 → 5FC10D..5FC120; 0 for anything else. */
uint32_t uk_piv_slot_object(uint8_t slot);

/* True for the key references that hold asymmetric keys (9A, 9C, 9D, 9E,
 * 82..95). */
bool uk_piv_slot_valid(uint8_t slot);

#endif

/* SPDX-License-Identifier: MIT */
/* sim/version.h: the simulator's version, stored in every trace's meta table. */
#ifndef SIM_VERSION_H
#define SIM_VERSION_H

#define VMCISIM_VERSION "0.1.0"

#endif /* SIM_VERSION_H */

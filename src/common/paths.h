/* Where the monitor keeps its state and serves its API by default: the same for the
 * monitor (citadeld) and its clients (the CLI, the gateway). */
#pragma once

#define CIT_DEFAULT_SOCKET "/run/citadel/citadel.sock" /* $CITADEL_SOCKET overrides it */
#define CIT_DEFAULT_STATE_DIR "/var/lib/citadel"

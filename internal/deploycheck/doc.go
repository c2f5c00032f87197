// Package deploycheck has no code: its tests check the deployment files at the
// root of the repository, where no Docker engine runs to try them.
//
//   - docker-compose.yml is loaded with compose-go (the library of `docker
//     compose`): the services, their build, depends_on, healthchecks, replicas
//     and Redis's AOF; and the environment it gives cmd/api and cmd/worker is
//     accepted by config.Load, names only variables config.Load reads, and with
//     nothing set but API_TOKENS gives the programs' own defaults.
//   - Dockerfile: the `go build` lines of its build stage are the Makefile's
//     `build` target, its Go image is go.mod's minor version, and its final
//     stage runs as a non-root user with both binaries.
package deploycheck

# Install rules: the headers, the exported target pyscale::core and the package files that
# let find_package(pyscale CONFIG) locate them.
include(CMakePackageConfigHelpers)

# The whole include/pyscale tree (every file, any depth), so headers added later need no
# edit here.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/csrc/include/pyscale"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(TARGETS pyscale_core EXPORT pyscaleTargets)

# Header-only: the package files are architecture independent, hence under share/.
set(PYSCALE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/pyscale"
    CACHE STRING "Where pyscaleConfig.cmake is installed (relative to the prefix)")

install(EXPORT pyscaleTargets NAMESPACE pyscale::
        DESTINATION "${PYSCALE_INSTALL_CMAKEDIR}")

configure_package_config_file(
    "${PROJECT_SOURCE_DIR}/cmake/pyscaleConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/pyscaleConfig.cmake"
    INSTALL_DESTINATION "${PYSCALE_INSTALL_CMAKEDIR}")
# 0.x releases may change the API between minor versions: only the same X.Y is compatible.
write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/pyscaleConfigVersion.cmake"
    VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)

install(FILES "${PROJECT_BINARY_DIR}/pyscaleConfig.cmake"
              "${PROJECT_BINARY_DIR}/pyscaleConfigVersion.cmake"
        DESTINATION "${PYSCALE_INSTALL_CMAKEDIR}")

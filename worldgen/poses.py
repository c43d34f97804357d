"""Camera poses, per-tick actions and intrinsics: the coordinate contract of docs/formats.md.

World: right-handed, +y up, metres. A camera at yaw 0, pitch 0 looks along -z with +x to its right.
Yaw is a right-handed rotation about +y, so positive yaw turns the view LEFT (counter-clockwise seen from
above); pitch is a right-handed rotation about the camera's right axis, so positive pitch looks UP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PITCH_LIMIT_RAD = math.radians(80.0)  # the camera never looks straight up or down


@dataclass(frozen=True)
class Pose:
    """Camera position (metres) and heading (radians); roll is always 0."""

    x: float
    y: float
    z: float
    yaw: float
    pitch: float

    def as_array(self) -> np.ndarray:
        """(5,) float64 [x, y, z, yaw_rad, pitch_rad]."""
        return np.array([self.x, self.y, self.z, self.yaw, self.pitch], dtype=np.float64)

    @staticmethod
    def from_array(a) -> "Pose":
        return Pose(*(float(v) for v in a))

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], dtype=np.float64)


@dataclass(frozen=True)
class Action:
    """Pose change over one tick in the camera's heading frame: metres and radians."""

    forward: float = 0.0
    right: float = 0.0
    up: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0

    def as_array(self) -> np.ndarray:
        """(5,) float64 [forward_m, right_m, up_m, yaw_rad, pitch_rad]."""
        return np.array([self.forward, self.right, self.up, self.yaw, self.pitch], dtype=np.float64)

    @staticmethod
    def from_array(a) -> "Action":
        return Action(*(float(v) for v in a))


def heading_vectors(yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit forward and right vectors of the horizontal heading frame at this yaw."""
    s, c = math.sin(yaw), math.cos(yaw)
    return np.array([-s, 0.0, -c]), np.array([c, 0.0, -s])


def apply_action(pose: Pose, action: Action) -> Pose:
    """The pose one tick later: translate in the heading frame of `pose`, then turn."""
    s, c = math.sin(pose.yaw), math.cos(pose.yaw)
    x = pose.x - s * action.forward + c * action.right
    z = pose.z - c * action.forward - s * action.right
    pitch = min(max(pose.pitch + action.pitch, -PITCH_LIMIT_RAD), PITCH_LIMIT_RAD)
    return Pose(x, pose.y + action.up, z, pose.yaw + action.yaw, pitch)


def action_between(a: Pose, b: Pose) -> Action:
    """The action that takes pose `a` to pose `b` (inverse of apply_action, up to rounding)."""
    s, c = math.sin(a.yaw), math.cos(a.yaw)
    dx, dz = b.x - a.x, b.z - a.z
    return Action(forward=-s * dx - c * dz, right=c * dx - s * dz, up=b.y - a.y,
                  yaw=b.yaw - a.yaw, pitch=b.pitch - a.pitch)


def rollout(start: Pose, actions) -> list[Pose]:
    """Poses visited by applying `actions` from `start`; the first element is `start`."""
    poses = [start]
    for act in actions:
        poses.append(apply_action(poses[-1], act))
    return poses


def camera_rotation(yaw: float, pitch: float) -> np.ndarray:
    """(3, 3) camera-to-world rotation: columns are the camera's right, up and backward (+z) axes."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def view_matrix(pose: Pose) -> np.ndarray:
    """(4, 4) world-to-camera matrix (camera looks along its -z)."""
    r = camera_rotation(pose.yaw, pose.pitch)
    m = np.eye(4)
    m[:3, :3] = r.T
    m[:3, 3] = -r.T @ pose.position
    return m


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: image size in pixels and vertical field of view in degrees.

    Pixel (u, v) has u to the right and v down; its centre is at (u + 0.5, v + 0.5).
    """

    width: int
    height: int
    fov_y_deg: float = 70.0

    @property
    def fy(self) -> float:
        return 0.5 * self.height / math.tan(math.radians(self.fov_y_deg) / 2)

    @property
    def fx(self) -> float:
        return self.fy  # square pixels

    @property
    def cx(self) -> float:
        return self.width / 2

    @property
    def cy(self) -> float:
        return self.height / 2

    def matrix(self) -> np.ndarray:
        """(3, 3) K in the u-right, v-down pixel convention."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def projection(self, near_m: float, far_m: float) -> np.ndarray:
        """(4, 4) OpenGL clip-space projection matching these intrinsics."""
        t = 1.0 / math.tan(math.radians(self.fov_y_deg) / 2)
        a = self.width / self.height
        m = np.zeros((4, 4))
        m[0, 0], m[1, 1] = t / a, t
        m[2, 2] = (far_m + near_m) / (near_m - far_m)
        m[2, 3] = 2 * far_m * near_m / (near_m - far_m)
        m[3, 2] = -1.0
        return m

    def camera_rays(self) -> np.ndarray:
        """(H, W, 3) camera-space ray directions with z = -1 (so depth_m scales them to points)."""
        u = (np.arange(self.width) + 0.5 - self.cx) / self.fx
        v = (np.arange(self.height) + 0.5 - self.cy) / self.fy
        uu, vv = np.meshgrid(u, v)
        return np.stack([uu, -vv, -np.ones_like(uu)], axis=-1)


@dataclass(frozen=True)
class Frame:
    """One generated or rendered frame: RGB (H, W, 3) uint8, depth_m (H, W) float32, and its pose."""

    rgb: np.ndarray
    depth: np.ndarray
    pose: Pose

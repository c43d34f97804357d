#version 330
// World-space triangle soup; colour alpha carries the material (0 diffuse, 1 water).
uniform mat4 u_vp;
in vec3 in_pos;
in vec4 in_col;
out vec3 v_world;
out vec4 v_col;
void main() {
    v_world = in_pos;
    v_col = in_col;
    gl_Position = u_vp * vec4(in_pos, 1.0);
}

#version 330
#include common
uniform mat4 u_inv_vp;
in vec2 v_ndc;

void main() {
    vec4 p = u_inv_vp * vec4(v_ndc, 1.0, 1.0);
    vec3 dir = normalize(p.xyz / p.w - u_cam);
    f_color = vec4(clamp(sky_colour(dir), 0.0, 1.0), 1.0);
    f_depth = u_far_m;
}

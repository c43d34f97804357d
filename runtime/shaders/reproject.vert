#version 330
// One vertex per pixel of the newest frame, lifted to 3D with its depth and seen from the current pose.
uniform vec2 u_res;            // frame width, height in pixels
uniform vec4 u_intr;           // fx, fy, cx, cy
uniform mat4 u_src_to_dst;     // frame camera space -> view camera space
uniform mat4 u_proj;           // view camera projection
in vec2 in_pix;                // pixel centre (u + 0.5, v + 0.5)
in float in_depth;             // planar depth in metres (a vertex attribute: no texture fetch per vertex)
out vec2 v_uv;
void main() {
    v_uv = in_pix / u_res;
    vec3 p = vec3((in_pix.x - u_intr.z) / u_intr.x * in_depth, -(in_pix.y - u_intr.w) / u_intr.y * in_depth,
                  -in_depth);
    gl_Position = u_proj * (u_src_to_dst * vec4(p, 1.0));
}

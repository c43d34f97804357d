#version 330
// A rectangle in normalised device coordinates; uv has v = 0 at the top of the image.
uniform vec4 u_rect;           // x0, y0, x1, y1 in NDC
in vec2 in_corner;             // (0, 0) .. (1, 1)
out vec2 v_uv;
void main() {
    v_uv = vec2(in_corner.x, 1.0 - in_corner.y);
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, in_corner), 0.0, 1.0);
}

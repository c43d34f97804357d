#version 330
// The frame's colour with an unsharp mask at the frame's own texel size: the edges the upscale would soften.
uniform sampler2D u_rgb;
uniform vec2 u_texel;          // 1 / frame size
uniform float u_sharpen;
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec3 c = texture(u_rgb, v_uv).rgb;
    if (u_sharpen > 0.0) {
        vec3 blur = 0.25 * (texture(u_rgb, v_uv + vec2(u_texel.x, 0)).rgb + texture(u_rgb, v_uv - vec2(u_texel.x, 0)).rgb
                          + texture(u_rgb, v_uv + vec2(0, u_texel.y)).rgb + texture(u_rgb, v_uv - vec2(0, u_texel.y)).rgb);
        c = clamp(c + u_sharpen * (c - blur), 0.0, 1.0);
    }
    f_color = vec4(c, 1.0);
}

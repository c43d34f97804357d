#version 330
// Draws an image texture on a quad; with u_sharpen > 0 an unsharp mask at u_texel restores edges lost to
// upscaling.
uniform sampler2D u_tex;
uniform vec2 u_texel;          // 1 / texture size
uniform float u_sharpen;
uniform float u_flip;          // 1 when the texture's row 0 is the image's bottom (a framebuffer)
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec2 uv = vec2(v_uv.x, mix(v_uv.y, 1.0 - v_uv.y, u_flip));
    vec4 c = texture(u_tex, uv);
    if (u_sharpen > 0.0) {
        vec3 blur = 0.25 * (texture(u_tex, uv + vec2(u_texel.x, 0)).rgb + texture(u_tex, uv - vec2(u_texel.x, 0)).rgb
                          + texture(u_tex, uv + vec2(0, u_texel.y)).rgb + texture(u_tex, uv - vec2(0, u_texel.y)).rgb);
        c.rgb = clamp(c.rgb + u_sharpen * (c.rgb - blur), 0.0, 1.0);
    }
    f_color = c;
}
